package config

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Host holds the facts about the machine and user that defaults depend
// on. Tests construct it directly; SystemHost reads the real ones.
type Host struct {
	Getenv      func(string) string // environment lookup; nil means empty environment
	EUID        int                 // effective user id; 0 selects system-wide paths
	Home        string              // home directory; may be empty if unknown
	CPUs        int                 // online CPUs; 0 if unknown
	MemoryBytes int64               // total RAM; 0 if unknown
}

// SystemHost describes the running process and machine, reading the
// environment through env (os.Getenv if nil).
func SystemHost(env func(string) string) Host {
	if env == nil {
		env = os.Getenv
	}
	h := Host{Getenv: env, EUID: os.Geteuid(), CPUs: runtime.NumCPU()}
	h.Home = env("HOME")
	if h.Home == "" {
		if home, err := os.UserHomeDir(); err == nil {
			h.Home = home
		}
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err == nil {
		h.MemoryBytes = int64(si.Totalram) * int64(si.Unit)
	}
	return h
}

func (h Host) getenv(k string) string {
	if h.Getenv == nil {
		return ""
	}
	return h.Getenv(k)
}
