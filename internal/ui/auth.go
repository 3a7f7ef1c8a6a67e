package ui

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"sync"
	"time"

	"banger/internal/access"
)

// CookieName is the session cookie of the UI.
const CookieName = "banger_ui"

// TokenTTL bounds how long a login URL works; SessionTTL how long a
// session lasts. A session also ends when the daemon restarts.
const (
	TokenTTL   = 2 * time.Minute
	SessionTTL = 12 * time.Hour
	maxGrants  = 64 // live tokens and sessions kept, each; the oldest go first
)

// grant is who a token or a session acts as, and until when.
type grant struct {
	caller  access.Caller
	who     bool // false: the daemon's own (no caller; handler tests)
	expires time.Time
}

// grants holds the one-time login tokens and the sessions, in memory.
type grants struct {
	mu       sync.Mutex
	tokens   map[string]grant
	sessions map[string]grant
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// add records a new secret for c in m, valid for ttl from now, and
// forgets expired ones (and the oldest, past maxGrants).
func (g *grants) add(m *map[string]grant, c grant, now time.Time, ttl time.Duration) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if *m == nil {
		*m = map[string]grant{}
	}
	for k, v := range *m {
		if !now.Before(v.expires) {
			delete(*m, k)
		}
	}
	for len(*m) >= maxGrants {
		oldest := ""
		for k, v := range *m {
			if oldest == "" || v.expires.Before((*m)[oldest].expires) {
				oldest = k
			}
		}
		delete(*m, oldest)
	}
	s := newSecret()
	c.expires = now.Add(ttl)
	(*m)[s] = c
	return s
}

// redeem exchanges a token for a new session: the token works once.
func (g *grants) redeem(token string, now time.Time) (string, bool) {
	g.mu.Lock()
	gr, ok := g.tokens[token]
	delete(g.tokens, token)
	g.mu.Unlock()
	if !ok || token == "" || !now.Before(gr.expires) {
		return "", false
	}
	return g.add(&g.sessions, gr, now, SessionTTL), true
}

// session is the grant of a live session id.
func (g *grants) session(id string, now time.Time) (grant, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.sessions[id]
	if !ok || id == "" || !now.Before(gr.expires) {
		return grant{}, false
	}
	return gr, true
}

// origin is the one origin the UI's pages have.
func (s *Server) origin() string { return "http://" + s.Addr }

// hostOK says whether r was addressed to the UI's own loopback address: a
// page of another site whose name was rebound to 127.0.0.1 sends its
// own name in Host, and is refused.
func (s *Server) hostOK(r *http.Request) bool { return r.Host == s.Addr }

// sameOrigin says whether r comes from one of the UI's own pages: its
// Origin is the UI's, or (a browser that sends none on this request) its
// Sec-Fetch-Site says same-origin. A request with neither is refused.
func (s *Server) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Scheme == "http" && u.Host == s.Addr && u.Path == ""
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}

// safeMethod says whether m changes nothing.
func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }
