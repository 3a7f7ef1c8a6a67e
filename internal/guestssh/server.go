// Package guestssh is the SSH server inside banger-agent. It runs over the
// guest's second host-only channel (virtio-serial port org.banger.ssh, or
// vsock port 1025) and gives the daemon sessions with or without a PTY,
// signals, stdin EOF, exit statuses, and direct-tcpip forwards to guest
// loopback ports, all multiplexed over one stream.
package guestssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// Starter starts a process and reports how it ended. Under PID 1 the
// agent's reaper implements it, so its wait4(-1) loop does not steal the
// exit status of the sessions' own children; elsewhere DirectStarter does.
type Starter interface {
	Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error)
}

// DirectStarter starts a process and waits for it with os.Process.Wait.
type DirectStarter struct{}

// Start implements Starter.
func (DirectStarter) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	go func() {
		st, err := cmd.Process.Wait()
		if err != nil {
			ch <- syscall.WaitStatus(255 << 8)
			return
		}
		ch <- st.Sys().(syscall.WaitStatus)
	}()
	return ch, nil
}

// Server answers SSH connections from the host.
type Server struct {
	// HostKey identifies the guest; see HostKey for how it is chosen.
	HostKey ssh.Signer
	// AuthorizedKeys lists the keys allowed in. It is asked at every
	// attempt, so keys that appear after boot (the work disk mounted on
	// /root) are honoured.
	AuthorizedKeys func() ([]ssh.PublicKey, error)
	// Starter starts the sessions' commands; DirectStarter when nil.
	Starter Starter
	// Shell runs commands (Shell -c CMD) and login shells (Shell -l);
	// /bin/bash when present, else /bin/sh, when empty.
	Shell string
	// Home is the sessions' HOME and working directory; /root when empty.
	Home string
	Log  *slog.Logger
}

// ServeConn runs the SSH protocol over c until the host disconnects or ctx
// ends. Each channel is served on its own goroutine.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	conn, chans, reqs, err := ssh.NewServerConn(c, s.config())
	if err != nil {
		return fmt.Errorf("ssh handshake: %w", err)
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	// Channels end with the connection: forwards that wait on a quiet
	// guest socket are closed, so the port can take the next connection.
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for nc := range chans {
		wg.Go(func() { s.handleChannel(cctx, nc) })
	}
	cancel()
	wg.Wait()
	return nil
}

// Serve answers every connection ln accepts (vsock, or a unix socket in
// tests), each with ServeConn, until ln fails or ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			if err := s.ServeConn(ctx, c); err != nil && ctx.Err() == nil {
				s.log().Debug("ssh connection", "err", err)
			}
		}()
	}
}

func (s *Server) handleChannel(ctx context.Context, nc ssh.NewChannel) {
	switch nc.ChannelType() {
	case "session":
		ch, reqs, err := nc.Accept()
		if err != nil {
			return
		}
		newSession(s, ch).serve(ctx, reqs)
	case "direct-tcpip":
		s.directTCPIP(ctx, nc)
	default:
		_ = nc.Reject(ssh.UnknownChannelType, "unsupported channel type "+nc.ChannelType())
	}
}

func (s *Server) config() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	cfg.AddHostKey(s.HostKey)
	return cfg
}

func (s *Server) checkKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.AuthorizedKeys == nil {
		return nil, errors.New("no authorized keys")
	}
	keys, err := s.AuthorizedKeys()
	if err != nil {
		return nil, fmt.Errorf("read authorized keys: %w", err)
	}
	want := key.Marshal()
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), want) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, errors.New("key not authorized")
}

func (s *Server) starter() Starter {
	if s.Starter == nil {
		return DirectStarter{}
	}
	return s.Starter
}

func (s *Server) shell() string {
	if s.Shell != "" {
		return s.Shell
	}
	if _, err := os.Stat("/bin/bash"); err == nil {
		return "/bin/bash"
	}
	return "/bin/sh"
}

func (s *Server) home() string {
	if s.Home != "" {
		return s.Home
	}
	return "/root"
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
