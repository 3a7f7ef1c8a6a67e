package agent

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Port is one listening socket in the guest, the result element of method
// "ports".
type Port struct {
	// Proto is "tcp" or "udp"; Address tells IPv4 from IPv6.
	Proto   string `json:"proto"`
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// PID and Process name the owner of the socket; 0 and "" when no
	// process could be found (e.g. the agent lacks permission).
	PID     int    `json:"pid,omitempty"`
	Process string `json:"process,omitempty"`
}

// socketTable is one /proc/net file and how to read it.
type socketTable struct {
	file  string
	proto string
}

// listeningPorts reads the listening TCP sockets and unconnected bound UDP
// sockets from <procRoot>/net/{tcp,tcp6,udp,udp6} and maps each socket to
// the process holding it.
func listeningPorts(procRoot string) ([]Port, error) {
	tables := []socketTable{
		{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"},
	}
	type sock struct {
		Port
		inode uint64
	}
	var socks []sock
	found := false
	for _, t := range tables {
		entries, err := parseNetFile(filepath.Join(procRoot, "net", t.file), t.proto)
		if os.IsNotExist(err) {
			continue // e.g. a kernel without IPv6
		}
		if err != nil {
			return nil, err
		}
		found = true
		for _, e := range entries {
			socks = append(socks, sock{Port: Port{Proto: t.proto, Address: e.addr.String(), Port: e.port}, inode: e.inode})
		}
	}
	if !found {
		return nil, fmt.Errorf("no socket tables under %s/net", procRoot)
	}
	want := make(map[uint64]bool, len(socks))
	for _, s := range socks {
		if s.inode != 0 {
			want[s.inode] = true
		}
	}
	owners := socketOwners(procRoot, want)

	type key struct {
		proto, addr string
		port        uint16
	}
	byKey := make(map[key]Port)
	for _, s := range socks {
		p := s.Port
		if o, ok := owners[s.inode]; ok && s.inode != 0 {
			p.PID, p.Process = o.pid, o.comm
		}
		k := key{p.Proto, p.Address, p.Port}
		// SO_REUSEPORT sockets share a key: keep the lowest known pid.
		if old, ok := byKey[k]; ok && old.PID != 0 && (p.PID == 0 || old.PID <= p.PID) {
			continue
		}
		byKey[k] = p
	}
	out := make([]Port, 0, len(byKey))
	for _, p := range byKey {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		return a.Address < b.Address
	})
	return out, nil
}

type netEntry struct {
	addr  netip.Addr
	port  uint16
	inode uint64
}

// parseNetFile returns the listening entries of one /proc/net/{tcp,udp}[6]
// file: state 0A (LISTEN) for tcp, state 07 (CLOSE, i.e. bound but not
// connected) with an all-zero remote for udp.
func parseNetFile(path, proto string) ([]netEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []netEntry
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		state := fields[3]
		if proto == "tcp" && state != "0A" {
			continue
		}
		if proto == "udp" {
			if state != "07" {
				continue
			}
			if raddr, rport, err := parseHexAddrPort(fields[2]); err != nil || !raddr.IsUnspecified() || rport != 0 {
				continue
			}
		}
		addr, port, err := parseHexAddrPort(fields[1])
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %s: inode %q: %w", path, fields[9], err)
		}
		out = append(out, netEntry{addr: addr, port: port, inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// parseHexAddrPort decodes the kernel's "0100007F:0016" form: the address
// is printed as 32-bit words in host byte order, the port in big-endian hex.
func parseHexAddrPort(s string) (netip.Addr, uint16, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("bad port in %q: %w", s, err)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, 0, fmt.Errorf("bad address %q", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr.Unmap(), uint16(port), nil
}

type owner struct {
	pid  int
	comm string
}

// socketOwners maps socket inodes in want to the lowest pid holding them,
// by reading the <procRoot>/<pid>/fd/* links ("socket:[inode]"). Processes
// that vanish or cannot be read are skipped.
func socketOwners(procRoot string, want map[uint64]bool) map[uint64]owner {
	out := make(map[uint64]owner)
	if len(want) == 0 {
		return out
	}
	dirs, err := os.ReadDir(procRoot)
	if err != nil {
		return out
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procRoot, d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		var comm string
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") || !strings.HasSuffix(link, "]") {
				continue
			}
			inode, err := strconv.ParseUint(link[len("socket:["):len(link)-1], 10, 64)
			if err != nil || !want[inode] {
				continue
			}
			if o, ok := out[inode]; ok && o.pid < pid {
				continue
			}
			if comm == "" {
				b, _ := os.ReadFile(filepath.Join(procRoot, d.Name(), "comm"))
				comm = strings.TrimSpace(string(b))
			}
			out[inode] = owner{pid: pid, comm: comm}
		}
	}
	return out
}
