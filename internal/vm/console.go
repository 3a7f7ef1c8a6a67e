package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/logcap"
	"banger/internal/vmm"
)

// DefaultConsoleMax is the default cap of a VM's console log: console.log
// holds at most this much, and console.log.1 the generation before it.
const DefaultConsoleMax = 8 << 20

// consoleKeep is how many rotated generations of a console log are kept.
const consoleKeep = 1

// console drains a VM's serial console from the FIFO its VMM writes into
// the VM's capped console log, so a guest that floods its serial port
// cannot fill the disk. The FIFO is in the run dir and outlives the
// daemon with the VMM; a restarted daemon drains it again (adopt).
type console struct {
	fifo string
	f    *os.File
	w    *logcap.Writer
	done chan struct{}
	once sync.Once
}

func (s *Service) consoleFIFO(id string) string { return filepath.Join(s.runDir(id), "console.fifo") }

func (s *Service) consoleMax() int64 {
	if s.ConsoleMax > 0 {
		return s.ConsoleMax
	}
	return DefaultConsoleMax
}

// pipeConsole makes VM id's console FIFO when backend b can write into
// one, starts draining it, and points cfg at it; nil when b cannot. A
// backend that runs the VMM under a uid of its own (owner > 0, as for
// its tap) gets the FIFO given to that uid.
func (s *Service) pipeConsole(b vmm.VMM, cfg *vmm.Config, id string, owner int) (*console, error) {
	if p, ok := b.(vmm.ConsolePiper); !ok || !p.ConsoleFIFO() {
		return nil, nil
	}
	fifo := s.consoleFIFO(id)
	_ = os.Remove(fifo)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("make the console pipe: %w", err)
	}
	if owner > 0 {
		if err := os.Chown(fifo, owner, owner); err != nil {
			_ = os.Remove(fifo)
			return nil, fmt.Errorf("give the console pipe to uid %d: %w", owner, err)
		}
	}
	c, err := s.drainConsole(id, fifo)
	if err != nil {
		_ = os.Remove(fifo)
		return nil, err
	}
	cfg.ConsoleLog = fifo
	return c, nil
}

// adoptConsole drains the console FIFO of a VM that a restarted daemon
// adopts, when its run has one; nil otherwise.
func (s *Service) adoptConsole(id string) *console {
	c, err := s.drainConsole(id, s.consoleFIFO(id))
	if err != nil {
		return nil
	}
	return c
}

// drainConsole opens fifo (read-write: the open never blocks and the
// reads never see an end while the VMM reopens it) and copies it into the
// console log.
func (s *Service) drainConsole(id, fifo string) (*console, error) {
	f, err := os.OpenFile(fifo, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open the console pipe: %w", err)
	}
	if st, err := f.Stat(); err != nil || st.Mode().Type() != os.ModeNamedPipe {
		f.Close()
		return nil, fmt.Errorf("open the console pipe: %s is not a FIFO", fifo)
	}
	w, err := logcap.Create(s.consoleLog(id), logcap.Options{Max: s.consoleMax(), Keep: consoleKeep, Offsets: true})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("console log: %w", err)
	}
	c := &console{fifo: fifo, f: f, w: w, done: make(chan struct{})}
	go c.drain()
	return c, nil
}

func (c *console) drain() {
	defer close(c.done)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.f.Read(buf)
		if n > 0 {
			_, _ = c.w.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// stop ends the drain of a VM whose process is gone, after taking what it
// left in the pipe. Safe on nil and more than once.
func (c *console) stop() { c.end(100 * time.Millisecond) }

// pending is how many bytes wait in the pipe (FIONREAD, alias TIOCINQ).
func (c *console) pending() int {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	return n
}

// detach ends the drain at once, the VM still running (the daemon is
// closing; the next one adopts the pipe).
func (c *console) detach() { c.end(0) }

func (c *console) end(linger time.Duration) {
	if c == nil {
		return
	}
	c.once.Do(func() {
		if linger > 0 {
			// What the process wrote before it went is in the pipe: wait
			// (up to linger) until the drain has taken it, then end it.
			deadline := time.Now().Add(linger)
			for c.pending() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			_ = c.f.SetReadDeadline(time.Now())
		} else {
			_ = c.f.Close()
		}
		<-c.done
		_ = c.f.Close()
		_ = c.w.Close()
	})
}
