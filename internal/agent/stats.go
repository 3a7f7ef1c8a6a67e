package agent

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Stats is the result of method "stats".
type Stats struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	// MemTotal and MemAvailable are bytes, from /proc/meminfo.
	MemTotal     uint64 `json:"mem_total"`
	MemAvailable uint64 `json:"mem_available"`
	// Disks holds one entry per path in StatsDiskPaths that could be
	// statted; "/" and "/root" may be the same file system.
	Disks         []DiskUsage `json:"disks"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Hostname      string      `json:"hostname"`
}

// DiskUsage is the size of the file system holding Path.
type DiskUsage struct {
	Path string `json:"path"`
	// Total is the file system size in bytes; Free is what unprivileged
	// users may still write (statfs f_bavail, what df calls Avail).
	Total uint64 `json:"disk_total"`
	Free  uint64 `json:"disk_free"`
}

// StatsDiskPaths are the guest paths whose file systems "stats" reports.
func StatsDiskPaths() []string { return []string{"/", "/root"} }

// Statfs reports the size of the file system holding path.
type Statfs func(path string) (DiskUsage, error)

// SysStatfs is the Statfs that asks the kernel.
func SysStatfs(path string) (DiskUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return DiskUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return DiskUsage{Path: path, Total: st.Blocks * bs, Free: st.Bavail * bs}, nil
}

func (s *Server) stats() (Stats, error) {
	root := s.procRoot()
	var st Stats
	b, err := os.ReadFile(filepath.Join(root, "loadavg"))
	if err != nil {
		return st, fmt.Errorf("read loadavg: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return st, fmt.Errorf("parse loadavg %q: too few fields", strings.TrimSpace(string(b)))
	}
	for i, dst := range []*float64{&st.Load1, &st.Load5, &st.Load15} {
		if *dst, err = strconv.ParseFloat(f[i], 64); err != nil {
			return st, fmt.Errorf("parse loadavg: %w", err)
		}
	}
	if st.MemTotal, st.MemAvailable, err = readMeminfo(filepath.Join(root, "meminfo")); err != nil {
		return st, err
	}
	statfs := s.Statfs
	if statfs == nil {
		statfs = SysStatfs
	}
	st.Disks = []DiskUsage{}
	for _, p := range StatsDiskPaths() {
		d, err := statfs(p)
		if err != nil {
			continue // e.g. no /root in a minimal image
		}
		d.Path = p
		st.Disks = append(st.Disks, d)
	}
	st.UptimeSeconds = s.uptime()
	st.Hostname = s.hostname()
	return st, nil
}

// readMeminfo returns MemTotal and MemAvailable in bytes.
func readMeminfo(path string) (total, avail uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read meminfo: %w", err)
	}
	defer f.Close()
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "MemTotal" && k != "MemAvailable") {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			return 0, 0, fmt.Errorf("parse meminfo %s: no value", k)
		}
		n, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse meminfo %s: %w", k, err)
		}
		if len(fs) > 1 && fs[1] == "kB" {
			n *= 1024
		}
		if k == "MemTotal" {
			total, haveTotal = n, true
		} else {
			avail, haveAvail = n, true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read meminfo: %w", err)
	}
	if !haveTotal || !haveAvail {
		return 0, 0, fmt.Errorf("meminfo lacks MemTotal or MemAvailable")
	}
	return total, avail, nil
}

// hostname reads <ProcRoot>/sys/kernel/hostname, falling back to
// os.Hostname.
func (s *Server) hostname() string {
	if b, err := os.ReadFile(filepath.Join(s.procRoot(), "sys", "kernel", "hostname")); err == nil {
		if h := strings.TrimSpace(string(b)); h != "" {
			return h
		}
	}
	h, _ := os.Hostname()
	return h
}
