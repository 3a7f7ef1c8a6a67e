package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mdlayher/vsock"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"banger/internal/agent"
	"banger/internal/guestinit"
	"banger/internal/guestssh"
	"banger/internal/vport"
)

// retry is how long a channel waits before reopening a port that failed
// or is not there yet (it appears once its driver has probed).
const retry = 200 * time.Millisecond

// channels are the agent's host-only channels: the JSON agent protocol and
// SSH, each on a virtio-serial port (QEMU) and a vsock port (Firecracker).
type channels struct {
	log   *slog.Logger
	agent *agent.Server
	// ssh is replaced when a restored guest takes its own identity (a new
	// host key); each connection is served by the server current then.
	ssh atomic.Pointer[guestssh.Server]
}

// newChannels builds the servers. starter runs SSH sessions' commands
// (the reaper under PID 1, nil otherwise); shutdown, when set, is offered
// as the agent method "shutdown".
func newChannels(log *slog.Logger, starter guestssh.Starter, shutdown func()) (*channels, error) {
	hostKey, err := guestssh.HostKey(guestssh.HostKeyPaths()...)
	if err != nil {
		return nil, err
	}
	var bootKeys []ssh.PublicKey
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		if bootKeys, err = guestssh.CmdlineKeys(string(b)); err != nil {
			log.Warn("boot keys", "err", err)
		}
	}
	c := &channels{
		log: log,
		agent: &agent.Server{
			Version:    version,
			Shutdown:   shutdown,
			SSHHostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey()))),
			Settle:     guestinit.Settle,
		},
	}
	c.agent.Identity = c.takeIdentity
	c.ssh.Store(&guestssh.Server{
		HostKey:        hostKey,
		AuthorizedKeys: guestssh.AuthorizedKeys(guestssh.AuthorizedKeysPaths(), bootKeys...),
		Starter:        starter,
		Log:            log,
	})
	return c, nil
}

// run serves every channel until ctx ends.
func (c *channels) run(ctx context.Context) {
	go c.serveVsock(ctx, agent.VsockPort, func(conn net.Conn) error { return c.agent.ServeConn(ctx, conn) })
	go c.serveVsock(ctx, agent.SSHVsockPort, func(conn net.Conn) error { return c.ssh.Load().ServeConn(ctx, conn) })
	go c.serveSSHPort(ctx)
	c.servePort(ctx, agent.PortName, func(f *vport.Conn) error { return c.agent.Serve(ctx, f) })
}

// servePort serves a virtio-serial port, reopening it after each host
// connection ends (SSH) or the port fails.
func (c *channels) servePort(ctx context.Context, name string, serve func(*vport.Conn) error) {
	for ctx.Err() == nil {
		path := portPath("/", name)
		f, err := vport.Open(path)
		if err == nil {
			err = serve(f)
			f.Close()
		} else if errors.Is(err, os.ErrNotExist) {
			err = nil // not there (yet): no such VMM, or no udev to link it
		}
		if err != nil && ctx.Err() == nil {
			c.log.Debug("serial channel", "port", name, "err", err)
		}
		if err != nil || !exists(path) {
			sleep(ctx, retry)
		}
	}
}

// serveSSHPort serves SSH on its virtio-serial port, one host connection
// after another, keeping the port open in between. Closing the port when a
// connection ends (or when a read finds no host connected) would let the
// VMM drop what the next host writes before the port is open again: the
// daemon's SSH banner, after which both sides wait for each other. So the
// port stays open, and a handshake starts only once the host has sent
// something.
func (c *channels) serveSSHPort(ctx context.Context) {
	for ctx.Err() == nil {
		path := portPath("/", agent.SSHPortName)
		f, err := vport.Open(path)
		if err != nil {
			sleep(ctx, retry)
			continue
		}
		for ctx.Err() == nil {
			ready, err := readable(f.Fd(), retry)
			if err != nil {
				c.log.Debug("serial channel", "port", agent.SSHPortName, "err", err)
				break
			}
			if !ready {
				continue // no host connected, or nothing sent yet
			}
			if err := c.ssh.Load().ServeConn(ctx, keptOpen{f}); err != nil && ctx.Err() == nil {
				c.log.Debug("serial channel", "port", agent.SSHPortName, "err", err)
			}
		}
		f.Close()
		sleep(ctx, retry)
	}
}

// readable waits up to d for f to have data to read from a connected
// host. A port with no host connected reports a hang-up: that is "not
// yet", after a pause.
func readable(fd int, d time.Duration) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(d.Milliseconds()))
	switch {
	case errors.Is(err, unix.EINTR):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("poll: %w", err)
	case n == 0:
		return false, nil
	case fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0:
		return false, fmt.Errorf("poll: port error (revents %#x)", fds[0].Revents)
	case fds[0].Revents&unix.POLLHUP != 0:
		// No host on the other end. A virtio console port then also
		// reports POLLIN (a read would not block: it returns EOF), which
		// must not start a handshake: that one would hold the server of
		// the moment, and in a template snapshotted then, every clone
		// would answer its first host with the template's host key.
		time.Sleep(d)
		return false, nil
	}
	return fds[0].Revents&unix.POLLIN != 0, nil
}

// keptOpen is a connection whose Close leaves the port open for the next
// host connection.
type keptOpen struct{ net.Conn }

func (keptOpen) Close() error { return nil }

// serveVsock answers on vsock where the VMM offers it (Firecracker).
func (c *channels) serveVsock(ctx context.Context, port uint32, serve func(net.Conn) error) {
	ln, err := vsock.Listen(port, nil)
	if err != nil {
		return // no vsock in this VM: the serial ports serve
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			if err := serve(conn); err != nil && ctx.Err() == nil {
				c.log.Debug("vsock channel", "port", port, "err", fmt.Sprint(err))
			}
		}()
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// portPath finds a virtio-serial port's device by name: udev's
// /dev/virtio-ports/NAME link, or, with no udev (PID 1 in a container
// image), the /dev/vportNpM whose sysfs name matches.
// root is "/" but in tests.
func portPath(root, name string) string {
	link := filepath.Join(root, "dev/virtio-ports", name)
	if exists(link) {
		return link
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "sys/class/virtio-ports/*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "name"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Join(root, "dev", filepath.Base(d))
		}
	}
	return link
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
