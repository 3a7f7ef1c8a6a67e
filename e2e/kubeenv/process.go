package kubeenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// proc is one running component, in a process group of its own.
type proc struct {
	name string
	log  string // path of its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done is closed
}

// spawner starts processes from one thread that stays alive until close,
// so that their parent-death signal (sent when the thread that forked them
// ends, not the process) fires only when the test process dies or the
// spawner closes. A thread ends when a goroutine locked to it exits, which
// freePorts and dialer do.
type spawner struct {
	reqs chan func()
}

// newSpawner starts the spawner's goroutine.
func newSpawner() *spawner {
	s := &spawner{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with close
		for f := range s.reqs {
			f()
		}
	}()
	return s
}

// do runs f on the spawner's thread.
func (s *spawner) do(f func()) {
	done := make(chan struct{})
	s.reqs <- func() { f(); close(done) }
	<-done
}

// close ends the thread; what it started and is still running gets SIGKILL.
func (s *spawner) close() { close(s.reqs) }

// startProc runs binDir/name with args, in the network namespace ns when ns
// is not empty, with its output in workDir/name.log. It is killed when the
// test process dies.
func startProc(sp *spawner, binDir, workDir, ns, name string, args []string) (*proc, error) {
	argv := append([]string{filepath.Join(binDir, name)}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	p := &proc{name: name, log: filepath.Join(workDir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close()
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = workDir
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	sp.do(func() { err = p.cmd.Start() })
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends the process group SIGTERM, then SIGKILL when it has not exited
// within grace. A process that has exited is left alone.
func (p *proc) stop(grace time.Duration) error {
	if p.exited() != nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	t.Reset(10 * time.Second)
	select {
	case <-p.done:
		return fmt.Errorf("stop %s: killed after %s", p.name, grace)
	case <-t.C:
		return fmt.Errorf("stop %s: still running 10s after SIGKILL", p.name)
	}
}

// exited reports how the process ended, or nil while it runs.
func (p *proc) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return nil
	}
}

// tail returns the last max bytes of the process's log.
func (p *proc) tail(max int64) string {
	f, err := os.Open(p.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(-max, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, max))
	return string(b)
}

// freePorts returns n TCP ports free on 127.0.0.1 in the network namespace
// ns (the current one when empty). Nothing holds them afterwards: a
// component binds them a moment later.
func freePorts(ns string, n int) ([]int, error) {
	type result struct {
		ports []int
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread joins ns and is never unlocked, so it ends with
		// this goroutine rather than going back to the scheduler.
		runtime.LockOSThread()
		ports, err := listenPorts(ns, n)
		ch <- result{ports, err}
	}()
	r := <-ch
	return r.ports, r.err
}

// listenPorts does freePorts' work on a locked thread.
func listenPorts(ns string, n int) ([]int, error) {
	if ns != "" {
		if err := enterNetns(ns); err != nil {
			return nil, err
		}
	}
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// dialer returns a Dial function for a client outside the network
// namespace ns to reach a server on its loopback: each connection's socket
// is made on a thread that has joined ns. It returns nil when ns is empty.
func dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if ns == "" {
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		ch := make(chan result, 1)
		go func() {
			// As in freePorts: the thread ends with the goroutine.
			runtime.LockOSThread()
			c, err := dialFrom(ctx, ns, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.conn, r.err
	}
}

// dialFrom joins ns and dials addr, on a locked thread.
func dialFrom(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	if err := enterNetns(ns); err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// enterNetns moves the calling thread (locked, and ended with its
// goroutine) into the network namespace ns.
func enterNetns(ns string) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	return nil
}
