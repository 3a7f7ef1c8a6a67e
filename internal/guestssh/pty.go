package guestssh

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal pair: the master stays in the agent, the
// terminal becomes the command's controlling terminal.
type pty struct {
	master *os.File
	tty    *os.File
}

// openPTY allocates a terminal through /dev/ptmx. The master is opened
// with os.OpenFile so it joins Go's poller (read deadlines work); the
// terminal is opened blocking, as the command expects its stdin to be.
func openPTY() (*pty, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	var n uint32
	err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlock pty: %w", err)
		}
		if n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil {
			return fmt.Errorf("pty number: %w", err)
		}
		return nil
	})
	if err != nil {
		master.Close()
		return nil, err
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	fd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &pty{master: master, tty: os.NewFile(uintptr(fd), name)}, nil
}

// Resize sets the terminal's window size; the kernel sends SIGWINCH to its
// foreground process group.
func (p *pty) Resize(cols, rows, width, height uint32) error {
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows), Xpixel: uint16(width), Ypixel: uint16(height)}
	return control(p.master, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) })
}

// Close closes both ends.
func (p *pty) Close() {
	p.master.Close()
	p.tty.Close()
}

// attach makes the terminal cmd's stdin, stdout, stderr and controlling
// terminal, in a new session; output is copied to w.
func (p *pty) attach(cmd *exec.Cmd, w io.Writer) *stdio {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.tty, p.tty, p.tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return &stdio{
		stdin:   p.master,
		outputs: []output{{w, p.master}},
		child:   []*os.File{p.tty},
		parent:  []*os.File{p.master},
	}
}

// control runs fn on f's descriptor without taking it out of Go's poller
// (File.Fd would switch it to blocking mode).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
