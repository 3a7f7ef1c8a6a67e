package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"banger/internal/api"
)

// connect answers Endpoints.Connect: the request asks to upgrade to
// api.ConnectProtocol, the VM service opens a stream to a new SSH
// connection in the guest (over the daemon's one connection to its agent),
// and the hijacked HTTP connection is spliced to it until either side
// ends. Like docker's attach, the answer is 101 Switching Protocols.
func (h *Handlers) connect(w http.ResponseWriter, r *http.Request, _ api.Empty) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), api.ConnectProtocol) {
		h.fail(w, r, &api.Error{Kind: api.KindBadRequest, Message: "this endpoint needs \"Upgrade: " + api.ConnectProtocol + "\""})
		return
	}
	guest, err := h.VMs.Connect(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer guest.Close()
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.fail(w, r, fmt.Errorf("take over the connection: %w", err))
		return
	}
	defer nc.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %s\r\n\r\n",
		api.ConnectProtocol, api.OpHeader, OpID(r.Context()))
	if err := brw.Flush(); err != nil {
		return
	}
	holding(r.Context())
	splice(nc, brw, guest)
}

// splice copies client to guest and guest to client (reading the client
// through in, which holds what it sent after its request) until one side
// ends, then closes both, which ends the other copy.
func splice(client net.Conn, in io.Reader, guest net.Conn) {
	var once sync.Once
	done := func() {
		once.Do(func() {
			client.Close()
			guest.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(guest, in)
		done()
	})
	_, _ = io.Copy(client, guest)
	done()
	wg.Wait()
}
