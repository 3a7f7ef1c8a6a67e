package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"banger/internal/api"
)

func TestGuestTextIsEscaped(t *testing.T) {
	// Guest-controlled text that would retitle the terminal, write the
	// clipboard (OSC 52) and erase the line above.
	const evil = "x\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07\x1b[1A\x1b[2K"
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms/dev/ports", []api.Port{{Proto: "tcp", Address: "0.0.0.0", Port: 22, PID: 1, Process: evil}})
	f.reply("GET /v1/vms/dev/stats", api.Stats{Hostname: evil, Disks: []api.DiskUsage{{Path: evil}}})
	f.handle("GET /v1/vms/dev/logs", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "\x1b[32mOK\x1b[0m "+evil+"\r\n")
	})
	f.handle("GET /v1/vms/bad/ports", func(w http.ResponseWriter, r *http.Request) {
		writeFakeJSON(w, http.StatusInternalServerError, api.Error{Kind: api.KindFailed, Message: "agent said: " + evil})
	})
	const escaped = `x\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07\x1b[1A\x1b[2K`
	for _, args := range [][]string{{"vm", "ports", "dev"}, {"vm", "stats", "dev"}, {"vm", "logs", "dev"}, {"vm", "ports", "bad"}} {
		r := f.cli(args...)
		out := r.stdout + r.stderr
		if !strings.Contains(out, escaped) {
			t.Errorf("%v: output lacks the escaped text:\n%q", args, out)
		}
		if strings.Contains(out, "\x1b]") || strings.Contains(out, "\x07") || strings.Contains(out, "\x1b[1A") {
			t.Errorf("%v: control sequences reach the terminal:\n%q", args, out)
		}
	}
	if r := f.cli("vm", "logs", "dev"); !strings.HasPrefix(r.stdout, "\x1b[32mOK\x1b[0m ") || !strings.HasSuffix(r.stdout, "\r\n") {
		t.Errorf("vm logs lost its colours or line ends: %q", r.stdout)
	}
}
