package api

import (
	"context"
	"net"
	"net/http"
)

// NewDialClient returns a client whose connections come from dial (e.g.
// a pipe over ssh to a remote daemon) rather than a local socket. name
// stands for the daemon in messages, as Socket does.
func NewDialClient(name string, dial func(ctx context.Context) (net.Conn, error)) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := dial(ctx)
			if err != nil {
				return nil, &net.OpError{Op: "dial", Net: "ssh", Err: err}
			}
			return c, nil
		},
		DisableCompression: true,
		// Each connection is an ssh process: keep one for reuse, not many.
		MaxIdleConnsPerHost: 1,
	}
	return &Client{Socket: name, http: &http.Client{Transport: tr}}
}
