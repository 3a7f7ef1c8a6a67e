package vmm

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// procStat is the part of /proc/<pid>/stat the backends care about.
type procStat struct {
	State     byte   // field 3: R, S, D, Z, X, ...
	StartTime uint64 // field 22: clock ticks after boot the process started
}

// readProcStat reads /proc/<pid>/stat under procRoot.
func readProcStat(procRoot string, pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, fmt.Errorf("read stat of pid %d: invalid pid", pid)
	}
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	st, err := parseProcStat(string(b))
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return st, nil
}

// parseProcStat parses the contents of /proc/<pid>/stat. The command name
// (field 2) is in parentheses and may itself contain spaces and parentheses,
// so the remaining fields are taken after the last ')'.
func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return procStat{}, errors.New("malformed stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22-3+1 {
		return procStat{}, fmt.Errorf("malformed stat: %d fields after command name", len(f))
	}
	if len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed stat: state %q", f[0])
	}
	start, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed stat: start time: %w", err)
	}
	return procStat{State: f[0][0], StartTime: start}, nil
}

// ProcessStartTime returns field 22 of /proc/<pid>/stat, the time the process
// started in clock ticks after boot. Together with the pid it identifies a
// process across pid reuse.
func ProcessStartTime(pid int) (uint64, error) {
	st, err := readProcStat("/proc", pid)
	if err != nil {
		return 0, err
	}
	return st.StartTime, nil
}

// Alive reports whether pid is a live (not zombie) process that started at
// startTime.
func Alive(pid int, startTime uint64) bool {
	return alive("/proc", pid, startTime)
}

func alive(procRoot string, pid int, startTime uint64) bool {
	st, err := readProcStat(procRoot, pid)
	if err != nil {
		return false
	}
	if st.State == 'Z' || st.State == 'X' || st.State == 'x' {
		return false
	}
	return st.StartTime == startTime
}

// SignalProcess sends sig to pid only if it is still the live process that
// started at startTime. It returns ErrNotRunning otherwise. The check and the
// signal go through a pidfd, so a pid reused between them cannot be hit.
func SignalProcess(pid int, startTime uint64, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return ErrNotRunning
	case errors.Is(err, unix.ENOSYS):
		// Kernel without pidfd (< 5.3): check, then signal.
		if !Alive(pid, startTime) {
			return ErrNotRunning
		}
		if err := unix.Kill(pid, sig); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return ErrNotRunning
			}
			return fmt.Errorf("signal pid %d with %v: %w", pid, sig, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("open pidfd for pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	// The pidfd pins the process that had pid when it was opened; if that one
	// still has the expected start time, the signal reaches the right process.
	if !Alive(pid, startTime) {
		return ErrNotRunning
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("signal pid %d with %v: %w", pid, sig, err)
	}
	return nil
}
