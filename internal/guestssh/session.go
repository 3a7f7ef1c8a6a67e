package guestssh

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// drainIdle is how long output is still read after the process has exited
// while data keeps coming; a background child that holds the pipe or the
// terminal open without writing does not keep the session open longer.
const drainIdle = time.Second

// session is one "session" channel: at most one command, with or without
// a PTY.
type session struct {
	srv  *Server
	ch   ssh.Channel
	env  []string
	term string
	pty  *pty // set by pty-req

	mu      sync.Mutex
	pid     int // process group to signal; 0 until started
	exited  bool
	started bool
}

func newSession(srv *Server, ch ssh.Channel) *session { return &session{srv: srv, ch: ch} }

// serve answers the channel's requests until the channel closes. A command
// still running then gets SIGHUP, as from a hung-up terminal.
func (s *session) serve(ctx context.Context, reqs <-chan *ssh.Request) {
	defer func() {
		s.signal(syscall.SIGHUP)
		if !s.isStarted() && s.pty != nil {
			s.pty.Close()
		}
		s.ch.Close()
	}()
	for req := range reqs {
		ok, then := s.handle(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if then != nil {
			go then()
		}
	}
}

// handle answers one request. then, when not nil, runs once the reply is
// sent (the exit status must not overtake the reply to "exec").
func (s *session) handle(req *ssh.Request) (ok bool, then func()) {
	switch req.Type {
	case "env":
		var m struct{ Name, Value string }
		if ssh.Unmarshal(req.Payload, &m) != nil || strings.ContainsAny(m.Name, "=\x00") {
			return false, nil
		}
		s.env = append(s.env, m.Name+"="+m.Value)
		return true, nil
	case "pty-req":
		return s.ptyReq(req.Payload), nil
	case "window-change":
		var m struct{ Columns, Rows, Width, Height uint32 }
		if s.pty == nil || ssh.Unmarshal(req.Payload, &m) != nil {
			return false, nil
		}
		return s.pty.Resize(m.Columns, m.Rows, m.Width, m.Height) == nil, nil
	case "signal":
		var m struct{ Signal string }
		if ssh.Unmarshal(req.Payload, &m) != nil {
			return false, nil
		}
		sig := unix.SignalNum("SIG" + m.Signal)
		return sig != 0 && s.signal(sig), nil
	case "exec", "shell":
		var m struct{ Command string }
		if req.Type == "exec" && ssh.Unmarshal(req.Payload, &m) != nil {
			return false, nil
		}
		run, err := s.start(req.Type == "shell", m.Command)
		if err != nil {
			s.srv.log().Warn("start command", "err", err)
			return false, nil
		}
		return true, run
	}
	return false, nil
}

func (s *session) ptyReq(payload []byte) bool {
	var m struct {
		Term                         string
		Columns, Rows, Width, Height uint32
		Modes                        string
	}
	if s.pty != nil || s.isStarted() || ssh.Unmarshal(payload, &m) != nil {
		return false
	}
	p, err := openPTY()
	if err != nil {
		s.srv.log().Warn("allocate pty", "err", err)
		return false
	}
	if err := p.Resize(m.Columns, m.Rows, m.Width, m.Height); err != nil {
		p.Close()
		return false
	}
	s.pty, s.term = p, m.Term
	return true
}

// signal sends sig to the command's process group while it runs.
func (s *session) signal(sig syscall.Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 || s.exited {
		return false
	}
	return syscall.Kill(-s.pid, sig) == nil
}

func (s *session) isStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// command builds the process for a request: Shell -c CMD, or a login
// shell, as root in HOME with a login-like environment.
func (s *session) command(login bool, command string) *exec.Cmd {
	shell := s.srv.shell()
	cmd := exec.Command(shell, "-c", command)
	if login {
		cmd = exec.Command(shell, "-l")
	}
	home := s.srv.home()
	cmd.Dir = home
	if _, err := os.Stat(home); err != nil {
		cmd.Dir = "/"
	}
	cmd.Env = []string{
		"HOME=" + home, "USER=root", "LOGNAME=root", "SHELL=" + shell,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	if s.term != "" {
		cmd.Env = append(cmd.Env, "TERM="+s.term)
	}
	cmd.Env = append(cmd.Env, s.env...)
	return cmd
}

// start starts the command and returns what copies its input and output
// and reports its end.
func (s *session) start(login bool, command string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil, fmt.Errorf("a command already runs in this session")
	}
	cmd := s.command(login, command)
	var st *stdio
	var err error
	if s.pty != nil {
		st = s.pty.attach(cmd, s.ch)
	} else if st, err = attachPipes(cmd, s.ch, s.ch.Stderr()); err != nil {
		return nil, err
	}
	exited, err := s.srv.starter().Start(cmd)
	st.closeChildEnds()
	if err != nil {
		st.closeParentEnds()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s.started, s.pid = true, cmd.Process.Pid
	return func() { s.run(cmd.Process, exited, st) }, nil
}

// run copies stdin and output until the process has exited and its output
// is drained, then sends the exit status and closes the channel.
func (s *session) run(p *os.Process, exited <-chan syscall.WaitStatus, st *stdio) {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(st.stdin, s.ch)
		if st.closeStdinOnEOF {
			st.stdin.Close()
		}
	}()
	var wg sync.WaitGroup
	for _, o := range st.outputs {
		wg.Go(func() { pump(o.w, o.r, done, drainIdle) })
	}
	status := <-exited
	s.mu.Lock()
	s.exited = true
	s.mu.Unlock()
	_ = p.Release()
	close(done)
	wg.Wait()
	st.closeParentEnds()
	name, payload := exitRequest(status)
	_, _ = s.ch.SendRequest(name, false, payload)
	_ = s.ch.CloseWrite()
	s.ch.Close()
}

// exitRequest renders a wait status as an SSH "exit-status" or
// "exit-signal" request.
func exitRequest(st syscall.WaitStatus) (string, []byte) {
	if st.Signaled() {
		return "exit-signal", ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{strings.TrimPrefix(unix.SignalName(st.Signal()), "SIG"), st.CoreDump(), "", ""})
	}
	return "exit-status", ssh.Marshal(struct{ Status uint32 }{uint32(st.ExitStatus())})
}

// pump copies r to w until r ends. Once done is closed it stops after idle
// with no data.
func pump(w io.Writer, r *os.File, done <-chan struct{}, idle time.Duration) {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-done:
			_ = r.SetReadDeadline(time.Now().Add(idle))
		case <-stop:
		}
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			select {
			case <-done:
				_ = r.SetReadDeadline(time.Now().Add(idle))
			default:
			}
		}
		if err != nil {
			return // EOF, EIO from a PTY whose terminal closed, or idle
		}
	}
}
