package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
)

// CheckURL says whether u may be where a remote catalog comes from. The
// catalog holds the sha256 sums every bundle is checked against, so it must
// come over HTTPS. Plain http is allowed only to a literal loopback address
// (127.0.0.0/8, ::1): a server on this host, as tests use; the request
// never leaves the host.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.User != nil {
		return fmt.Errorf("catalog URL %q is not an absolute https:// URL", u)
	}
	switch p.Scheme {
	case "https":
		return nil
	case "http":
		if a, err := netip.ParseAddr(p.Hostname()); err == nil && a.IsLoopback() {
			return nil
		}
		return fmt.Errorf("catalog URL %q must use https://: the catalog holds the sha256 sums banger trusts (plain http is allowed only to a loopback address such as 127.0.0.1)", u)
	}
	return fmt.Errorf("catalog URL %q is not an https:// URL", u)
}

// errRedirect is wrapped by the error of a redirect CheckURL refuses.
var errRedirect = errors.New("refused redirect")

// catalogClient returns a copy of client (nil: one with a 30-second
// timeout, set by the caller) that follows a redirect only to a URL
// CheckURL accepts, so an https catalog cannot be sent to plain http.
func catalogClient(client *http.Client) *http.Client {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := CheckURL(req.URL.String()); err != nil {
			return fmt.Errorf("%w to %s: %w", errRedirect, req.URL.Redacted(), err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}
