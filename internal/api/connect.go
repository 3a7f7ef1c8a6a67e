package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// ConnectProtocol is the Upgrade token of Endpoints.Connect.
const ConnectProtocol = "banger-ssh"

// Connect opens a byte stream to a new SSH connection in the running VM
// called name, served by its agent (see SSHTarget.Via). The caller speaks
// SSH over it and closes it.
func (c *Client) Connect(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	e := Endpoints.Connect
	path := e.URL(name)
	hr, err := http.NewRequestWithContext(ctx, e.Method, "http://bangerd"+path, nil)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Connection", "Upgrade")
	hr.Header.Set("Upgrade", ConnectProtocol)
	resp, err := c.do(hr)
	if err != nil {
		return nil, err
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: the daemon answered %s, not a stream", e.Method, path, resp.Status)
	}
	return rw, nil
}
