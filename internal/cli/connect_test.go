package cli

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
)

// TestVMConnectCopiesTheStream checks that `vm connect` upgrades the
// connect request and copies stdin to the stream and the stream to stdout,
// ending when the daemon ends the stream; --socket names the daemon.
func TestVMConnectCopiesTheStream(t *testing.T) {
	f := newFakeDaemon(t)
	f.handle("GET /v1/vms/{name}/connect", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != api.ConnectProtocol {
			writeFakeJSON(w, http.StatusBadRequest, api.Error{Kind: api.KindBadRequest, Message: "no upgrade"})
			return
		}
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", api.ConnectProtocol)
		brw.Flush()
		line, _ := bufio.NewReader(brw).ReadString('\n')
		fmt.Fprintf(nc, "%s got %s", r.PathValue("name"), line)
	})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go io.WriteString(pw, "hello\n") // stdin stays open, as ssh keeps it
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	a.cfg = nil // --socket: no config is read
	a.stdin = pr
	code := a.main(t.Context(), []string{"vm", "connect", "--socket", filepath.Join(f.dir, "bangerd.sock"), "dev"})
	if code != 0 || stdout.String() != "dev got hello\n" {
		t.Errorf("vm connect: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
