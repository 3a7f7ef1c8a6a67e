package api

import (
	"context"
	"time"
)

// UILogin is the answer of POST /v1/ui/login: a URL of the web UI that
// logs its first visitor in as the caller. It works once, until Expires.
type UILogin struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// UILogin asks the daemon for a one-time login URL of its web UI.
func (c *Client) UILogin(ctx context.Context) (UILogin, error) {
	return call(ctx, c, Endpoints.UILogin, Empty{})
}
