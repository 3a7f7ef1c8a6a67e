package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// inNetns runs fn on a thread inside the test's network namespace, so that
// its sockets live there.
func (e *env) inNetns(fn func()) {
	e.t.Helper()
	if err := withNetns(e.netns, fn); err != nil {
		e.t.Fatal(err)
	}
}

const guestServer = `nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { print $c "hello from guest\n"; close $c }' >/dev/null 2>&1 &`

// checkAgentNamesAndForward covers the guest agent (ports, stats), the
// .vm DNS zone, banger's ssh config and port forwarding on a running VM.
func checkAgentNamesAndForward(t *testing.T, e *env, vm vmJSON) {
	// A listener started in the guest shows in vm ports.
	e.ok("vm", "exec", vm.Name, "--", "sh", "-c", guestServer)
	waitFor(t, 15*time.Second, "perl's port 8080 in vm ports", func() (bool, string) {
		var ports []struct {
			Proto   string `json:"proto"`
			Port    int    `json:"port"`
			Process string `json:"process"`
		}
		out := e.ok("vm", "ports", vm.Name, "--json")
		if err := json.Unmarshal([]byte(out), &ports); err != nil {
			t.Fatalf("vm ports --json: %v\n%s", err, out)
		}
		for _, p := range ports {
			if p.Proto == "tcp" && p.Port == 8080 && p.Process == "perl" {
				return true, out
			}
		}
		return false, out
	})
	if out := e.ok("vm", "ports", vm.Name); !strings.Contains(out, "8080") || !strings.Contains(out, "perl") {
		t.Errorf("vm ports lacks perl on 8080:\n%s", out)
	}
	var stats struct {
		MemTotal uint64 `json:"mem_total"`
		Hostname string `json:"hostname"`
		Disks    []struct {
			Path  string `json:"path"`
			Total uint64 `json:"total"`
		} `json:"disks"`
	}
	if err := json.Unmarshal([]byte(e.ok("vm", "stats", vm.Name, "--json")), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Hostname != vm.Name || stats.MemTotal < 500<<20 || len(stats.Disks) != 2 {
		t.Errorf("vm stats = %+v", stats)
	}

	// NAME.vm resolves through the daemon's DNS, inside the namespace.
	e.inNetns(func() {
		c := &dns.Client{Timeout: 3 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(vm.Name+".vm.", dns.TypeA)
		r, _, err := c.Exchange(m, "127.0.0.1:5354")
		if err != nil {
			t.Errorf("query %s.vm: %v", vm.Name, err)
			return
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != vm.IP {
			t.Errorf("%s.vm answered %v, want %s", vm.Name, r.Answer, vm.IP)
		}
		m.SetQuestion("no-such-vm.vm.", dns.TypeA)
		if r, _, err := c.Exchange(m, "127.0.0.1:5354"); err != nil || r.Rcode != dns.RcodeNameError {
			t.Errorf("unknown name: rcode %v, err %v; want NXDOMAIN", r, err)
		}
	})

	// banger's ssh config reaches the VM by NAME.vm with the pinned key.
	sshCfg := filepath.Join(e.state, "ssh", "config")
	if b, err := os.ReadFile(sshCfg); err != nil || !strings.Contains(string(b), "Host "+vm.Name+".vm") {
		t.Fatalf("ssh config lacks the VM (%v):\n%s", err, b)
	}
	out, err := exec.Command("ip", "netns", "exec", e.netns, "ssh", "-F", sshCfg, "-o", "BatchMode=yes", vm.Name+".vm", "hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != vm.Name {
		t.Errorf("ssh -F banger-config %s.vm hostname: %v: %s", vm.Name, err, out)
	}

	// A forwarded host port answers from the guest, until the forward stops.
	fwd := exec.Command("ip", "netns", "exec", e.netns, filepath.Join(e.bin, "banger"), "--config", e.cfgPath,
		"vm", "forward", vm.Name, "0:8080")
	stdout, err := fwd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	fwd.Stderr = os.Stderr
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer fwd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "forwarding 127.0.0.1:") {
		t.Fatalf("vm forward printed %q (%v)", line, err)
	}
	listen := strings.Fields(line)[1]
	if out := e.ok("vm", "forward", "--list"); !strings.Contains(out, listen) || !strings.Contains(out, vm.IP+":8080") {
		t.Errorf("vm forward --list:\n%s", out)
	}
	e.inNetns(func() {
		c, err := net.DialTimeout("tcp", listen, 5*time.Second)
		if err != nil {
			t.Errorf("dial forward %s: %v", listen, err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		if string(b) != "hello from guest\n" {
			t.Errorf("through the forward: %q", b)
		}
	})
	fwd.Process.Signal(syscall.SIGINT)
	fwd.Wait()
	waitFor(t, 5*time.Second, "the forward to end with its CLI", func() (bool, string) {
		out := e.ok("vm", "forward", "--list")
		return !strings.Contains(out, listen), out
	})
}
