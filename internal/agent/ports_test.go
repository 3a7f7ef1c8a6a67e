package agent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	fakeTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0200A8C0:0016 0100A8C0:D6A2 01 00000000:00000000 02:000AFB07 00000000     0        0 1003 4 0000000000000000 20 4 29 10 -1
   3: 0100007F:1F90 0100007F:9C40 06 00000000:00000000 03:00000DF8 00000000     0        0 0 3 0000000000000000
`
	fakeTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0CEA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1005 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1006 1 0000000000000000 100 0 0 10 0
   3: B80D0120000000000000000001000000:0050 B80D0120000000000000000002000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 1007 1 0000000000000000 20 4 30 10 -1
`
	fakeUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 2001 2 0000000000000000 0
  101: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2002 2 0000000000000000 0
  102: 0200A8C0:E3B1 08080808:0035 01 00000000:00000000 00:00000000 00000000     0        0 2003 2 0000000000000000 0
`
	fakeUDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  200: 00000000000000000000000000000000:0222 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2004 2 0000000000000000 0
`
)

// fakeProc builds a /proc-like tree: socket tables plus processes whose fd
// links point at socket inodes.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("net/tcp", fakeTCP)
	write("net/tcp6", fakeTCP6)
	write("net/udp", fakeUDP)
	write("net/udp6", fakeUDP6)
	write("loadavg", "0.52 0.34 0.21 2/180 4242\n")
	write("meminfo", "MemTotal:        2030000 kB\nMemFree:          900000 kB\nMemAvailable:    1500000 kB\nBuffers:           20000 kB\n")
	write("uptime", "123.45 200.00\n")
	write("sys/kernel/hostname", "happy-otter\n")
	procs := []struct {
		pid, comm string
		links     map[string]string
	}{
		{"1", "systemd", map[string]string{"0": "/dev/null", "7": "socket:[999]"}},
		{"210", "sshd", map[string]string{"3": "socket:[1001]", "4": "socket:[1004]"}},
		// A forked child holds the same listening socket as its parent.
		{"211", "sshd", map[string]string{"3": "socket:[1001]"}},
		{"300", "python3", map[string]string{"0": "pipe:[55]", "5": "socket:[1002]", "6": "socket:[1006]"}},
		{"101", "systemd-resolve", map[string]string{"12": "socket:[2001]"}},
		{"400", "node", map[string]string{"20": "socket:[1005]", "21": "anon_inode:[eventpoll]"}},
		{"500", "avahi", map[string]string{"9": "socket:[2004]"}},
	}
	for _, p := range procs {
		write(filepath.Join(p.pid, "comm"), p.comm+"\n")
		if err := os.MkdirAll(filepath.Join(root, p.pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for fd, target := range p.links {
			if err := os.Symlink(target, filepath.Join(root, p.pid, "fd", fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("self/comm", "not-a-pid\n") // non-numeric entries are skipped
	return root
}

func TestListeningPortsFakeProc(t *testing.T) {
	root := fakeProc(t)
	got, err := listeningPorts(root)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by port, then proto, then address; established, TIME_WAIT and
	// connected-UDP lines are left out.
	want := []Port{
		{Proto: "tcp", Address: "0.0.0.0", Port: 22, PID: 210, Process: "sshd"}, // lowest of parent and child
		{Proto: "tcp", Address: "::", Port: 22, PID: 210, Process: "sshd"},
		{Proto: "udp", Address: "127.0.0.53", Port: 53, PID: 101, Process: "systemd-resolve"},
		{Proto: "udp", Address: "0.0.0.0", Port: 68}, // no process holds inode 2002
		{Proto: "udp", Address: "::", Port: 546, PID: 500, Process: "avahi"},
		{Proto: "tcp", Address: "::1", Port: 3306, PID: 400, Process: "node"},
		{Proto: "tcp", Address: "127.0.0.1", Port: 8080, PID: 300, Process: "python3"},
		{Proto: "tcp", Address: "127.0.0.1", Port: 8081, PID: 300, Process: "python3"}, // v4-mapped in tcp6
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ports:\n got %+v\nwant %+v", got, want)
	}
	for _, p := range got {
		if p.Port == 80 || p.Port == 0xE3B1 {
			t.Errorf("established socket reported as listening: %+v", p)
		}
	}
}

func TestListeningPortsDedupe(t *testing.T) {
	root := t.TempDir()
	// Two SO_REUSEPORT sockets on the same address and port, owned by two
	// workers, plus the same line twice.
	tcp := strings.SplitN(fakeTCP, "\n", 2)[0] + "\n" +
		"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12 1 0000000000000000 100 0 0 10 0\n" +
		"   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12 1 0000000000000000 100 0 0 10 0\n"
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(tcp), 0o644); err != nil {
		t.Fatal(err)
	}
	for pid, inode := range map[string]string{"70": "12", "60": "11"} {
		if err := os.MkdirAll(filepath.Join(root, pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "comm"), []byte("worker\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("socket:["+inode+"]", filepath.Join(root, pid, "fd", "3")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := listeningPorts(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Port{{Proto: "tcp", Address: "0.0.0.0", Port: 8080, PID: 60, Process: "worker"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestListeningPortsNoTables(t *testing.T) {
	if _, err := listeningPorts(t.TempDir()); err == nil {
		t.Fatal("want an error for a proc root without net/ tables")
	}
}

func TestParseHexAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:0016":                         "127.0.0.1:22",
		"00000000000000000000000001000000:1F90": "[::1]:8080",
		"0000000000000000FFFF00000100007F:0050": "127.0.0.1:80",
		"B80D0120000000000000000001000000:01BB": "[2001:db8::1]:443",
	} {
		a, p, err := parseHexAddrPort(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := netip.AddrPortFrom(a, p).String(); got != want {
			t.Errorf("%s = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:XYZ", "01007F:0016", "zz00007F:0016"} {
		if _, _, err := parseHexAddrPort(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

// TestListeningPortsRealProc finds a socket this test opens in the real
// /proc of the machine running it.
func TestListeningPortsRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skipf("no /proc/net/tcp here: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ports, err := listeningPorts("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if p.Proto == "tcp" && p.Port == port && p.Address == "127.0.0.1" {
			if p.PID != os.Getpid() {
				t.Fatalf("port %d: pid %d (%s), want %d", port, p.PID, p.Process, os.Getpid())
			}
			if p.Process == "" {
				t.Errorf("port %d: empty process name", port)
			}
			t.Logf("found %+v", p)
			return
		}
	}
	t.Fatalf("listener on 127.0.0.1:%d not among %d ports: %+v", port, len(ports), ports)
}

func TestStatsFakeProc(t *testing.T) {
	root := fakeProc(t)
	var asked []string
	srv := &Server{ProcRoot: root, Statfs: func(p string) (DiskUsage, error) {
		asked = append(asked, p)
		if p == "/root" {
			return DiskUsage{}, errors.New("no such file")
		}
		return DiskUsage{Total: 10 << 30, Free: 4 << 30}, nil
	}}
	st, err := srv.stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		Load1: 0.52, Load5: 0.34, Load15: 0.21,
		MemTotal: 2030000 * 1024, MemAvailable: 1500000 * 1024,
		Disks:         []DiskUsage{{Path: "/", Total: 10 << 30, Free: 4 << 30}},
		UptimeSeconds: 123.45, Hostname: "happy-otter",
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats:\n got %+v\nwant %+v", st, want)
	}
	if !reflect.DeepEqual(asked, []string{"/", "/root"}) {
		t.Errorf("statfs asked for %q", asked)
	}

	if err := os.WriteFile(filepath.Join(root, "meminfo"), []byte("MemTotal: 5 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.stats(); err == nil || !strings.Contains(err.Error(), "MemAvailable") {
		t.Errorf("meminfo without MemAvailable: err %v", err)
	}
}

func TestSysStatfs(t *testing.T) {
	d, err := SysStatfs("/")
	if err != nil {
		t.Fatal(err)
	}
	if d.Total == 0 || d.Free > d.Total {
		t.Errorf("statfs / = %+v", d)
	}
}

func TestPortsAndStatsOverPipe(t *testing.T) {
	host, guest := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := &Server{Version: "t", ProcRoot: fakeProc(t), Statfs: func(string) (DiskUsage, error) {
		return DiskUsage{Total: 100, Free: 40}, nil
	}}
	go func() { _ = srv.Serve(ctx, guest) }()
	c := NewClient(host)
	defer c.Close()

	h, err := c.Hello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"health", "hello", "ports", "stats"}; !reflect.DeepEqual(h.Capabilities, want) {
		t.Errorf("capabilities = %q, want %q", h.Capabilities, want)
	}
	if !h.Supports("ports") || h.Supports("exec") {
		t.Errorf("Supports wrong for %q", h.Capabilities)
	}
	ports, err := c.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 8 || ports[0] != (Port{Proto: "tcp", Address: "0.0.0.0", Port: 22, PID: 210, Process: "sshd"}) {
		t.Errorf("ports over the wire = %+v", ports)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hostname != "happy-otter" || st.MemAvailable != 1500000*1024 || len(st.Disks) != 2 || st.Disks[1] != (DiskUsage{Path: "/root", Total: 100, Free: 40}) {
		t.Errorf("stats over the wire = %+v", st)
	}

	// A server-side failure reaches the client as an error.
	if err := os.Remove(filepath.Join(srv.ProcRoot, "loadavg")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stats(ctx); err == nil || !strings.Contains(err.Error(), "loadavg") {
		t.Errorf("stats without loadavg: %v", err)
	}
}

func TestHelloSupportsOldAgent(t *testing.T) {
	old := Hello{Protocol: 1, Version: "0.1"}
	if !old.Supports("health") || old.Supports("ports") {
		t.Errorf("an agent without capabilities answers only hello and health")
	}
}
