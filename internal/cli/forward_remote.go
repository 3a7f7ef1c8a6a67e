package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"banger/internal/api"
	"banger/internal/forward"
	"banger/internal/poll"
	"banger/internal/remote"
)

// tunnelReady bounds the wait for ssh's local end of a tunnel to listen.
const tunnelReady = 30 * time.Second

// remoteForward forwards a port of the client's machine to a VM of the
// remote daemon on h: `ssh -N -L ADDR:PORT:VM_IP:GUEST_PORT h`, the VM's
// address being reachable from the daemon's machine as the daemon's own
// forwards reach it. It runs until ctx ends (Ctrl-C) or ssh does.
func (a *app) remoteForward(ctx context.Context, c *api.Client, h remote.Host, name, specText string) error {
	sp, err := forward.ParseSpec(specText)
	if err != nil {
		return err
	}
	vm, err := c.GetVM(ctx, name)
	if err != nil {
		return err
	}
	if vm.State != "running" || vm.IP == "" {
		return fmt.Errorf("VM %s is %s: start it first (`banger vm start %s`)", name, vm.State, name)
	}
	if sp.HostPort == 0 {
		if sp.HostPort, err = freePort(sp.HostAddr); err != nil {
			return err
		}
	}
	listen := netip.AddrPortFrom(sp.HostAddr, sp.HostPort)
	target := net.JoinHostPort(vm.IP, strconv.Itoa(int(sp.GuestPort)))
	return a.sshTunnel(ctx, h, listen, target, func() {
		fmt.Fprintf(a.stdout, "forwarding %s -> %s (%s, through %s); Ctrl-C to stop\n", listen, target, name, h)
	})
}

// remoteUI makes the remote daemon's web UI reachable here: its login
// link names the daemon's loopback address, so the same address and port
// of this machine are tunnelled there (the UI checks the Host header, so
// the port must be the same), and the link works as printed. It runs
// until Ctrl-C.
func (a *app) remoteUI(ctx context.Context, h remote.Host, login api.UILogin, open bool) error {
	u, err := url.Parse(login.URL)
	if err != nil {
		return fmt.Errorf("the daemon's login link %q: %w", login.URL, err)
	}
	listen, err := netip.ParseAddrPort(u.Host)
	if err != nil || !listen.Addr().IsLoopback() {
		return fmt.Errorf("the remote UI listens on %s, not on loopback: open %s from a machine that reaches it", u.Host, login.URL)
	}
	return a.sshTunnel(ctx, h, listen, u.Host, func() {
		fmt.Fprintln(a.stdout, login.URL)
		fmt.Fprintf(a.stderr, "the UI of %s is tunnelled to %s; Ctrl-C to close it\n", h, listen)
		if open && a.canOpen() {
			if err := openURL(ctx, login.URL); err != nil {
				fmt.Fprintf(a.stderr, "banger: could not open a browser (%v); open the link above\n", err)
			}
		}
	})
}

// sshTunnel runs `ssh -N -L listen:target h` until ctx ends or ssh exits,
// calling ready once listen answers.
func (a *app) sshTunnel(ctx context.Context, h remote.Host, listen netip.AddrPort, target string, ready func()) error {
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return fmt.Errorf("the ssh client is missing: apt-get install openssh-client")
	}
	spec := net.JoinHostPort(listen.Addr().String(), strconv.Itoa(int(listen.Port()))) + ":" + target
	args := h.SSHArgs([]string{"-N", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-L", spec}, "")
	cmd := exec.CommandContext(ctx, bin, args[:len(args)-1]...) // -N: no remote command
	cmd.Stderr = a.stderr
	// Ctrl-C is banger's to handle (it ends ssh through ctx), so ssh is
	// not in the terminal's process group; it goes if banger dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run ssh: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	wctx, cancel := context.WithTimeout(ctx, tunnelReady)
	err = poll.Until(wctx, 100*time.Millisecond, nil, func(context.Context) (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("ssh exited before listening on %s (is the port in use here?): %v", listen, err)
		default:
		}
		c, err := net.DialTimeout("tcp", listen.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil, nil
	})
	cancel()
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("tunnel %s -> %s through %s: %w", listen, target, h, err)
	}
	ready()
	err = <-exited
	if ctx.Err() != nil {
		return nil // interrupted
	}
	return fmt.Errorf("the ssh tunnel %s -> %s through %s ended: %v", listen, target, h, err)
}

// freePort picks a free TCP port on addr of this machine (for ssh -L,
// which takes no port 0).
func freePort(addr netip.Addr) (uint16, error) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}
