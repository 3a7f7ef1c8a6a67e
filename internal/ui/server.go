// Package ui is bangerd's local web dashboard (`banger ui`): a page of
// VMs, consoles and shells served on loopback. It has no code path of its
// own into the services: its API calls go to the daemon's API handler,
// as the user whose session they carry, and its event stream, console
// and shell read the same VM service the API does.
package ui

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/doctor"
	"banger/internal/event"
	"banger/internal/sshkey"
	"banger/internal/vm"
)

// VMs is what the UI needs of the VM service besides its API: its
// events, its console logs and its SSH channel to a guest.
type VMs interface {
	Subscribe(fn func(vm.Event)) *event.Subscription[vm.Event]
	OpenConsoleLog(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	Connect(ctx context.Context, name string) (net.Conn, error)
}

// Server serves the UI on Addr, a loopback address and port.
type Server struct {
	Addr string
	// API is the daemon's API handler (paths under /v1). It serves each
	// request as the caller of its session (access.CallerFrom), whom it
	// admits again.
	API http.Handler
	VMs VMs
	// KeyPath and KnownHosts are the daemon's SSH key and its pinned
	// guest host keys, for the Shell tab (as `vm ssh` uses them).
	KeyPath    string
	KnownHosts *sshkey.KnownHosts
	Log        *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Doctor runs `banger doctor`'s checks for the Host page; nil: none.
	Doctor func(context.Context) doctor.Report
	// StatsEvery is how often the event stream samples the running VMs'
	// stats (2 s when zero).
	StatsEvery time.Duration

	grants grants
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Login makes a one-time login URL that logs its first visitor in as the
// caller in ctx (the user who ran `banger ui`).
func (s *Server) Login(ctx context.Context) api.UILogin {
	now := s.now()
	c, who := access.CallerFrom(ctx)
	tok := s.grants.add(&s.grants.tokens, grant{caller: c, who: who}, now, TokenTTL)
	return api.UILogin{URL: s.origin() + "/login?token=" + url.QueryEscape(tok), Expires: now.Add(TokenTTL)}
}

// Handler is the UI: /login exchanges a token for a session cookie; every
// other path needs that session.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", s.API))
	mux.HandleFunc("GET /ui/events", s.events)
	mux.HandleFunc("GET /ui/console/{name}", s.console)
	mux.HandleFunc("GET /ui/shell/{name}", s.shell)
	mux.HandleFunc("GET /ui/host", s.host)
	mux.HandleFunc("GET /ui/workspace/{name}/patch", s.patch)
	static := http.FileServerFS(mustSub(assets, "assets"))
	mux.Handle("GET /assets/", http.StripPrefix("/assets", static))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		serveIndex(w)
	})
	return s.guard(mux)
}

// guard applies the UI's rules to every request: the Host must be the
// UI's own address; /login is the only path open without a session; a
// request that changes anything, or upgrades to a WebSocket, must come
// from the UI's own origin.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !s.hostOK(r) {
			deny(w, http.StatusForbidden, "this UI answers only at "+s.origin())
			return
		}
		if r.URL.Path == "/login" {
			s.login(w, r)
			return
		}
		g, ok := s.sessionOf(r)
		if !ok {
			deny(w, http.StatusUnauthorized, "not logged in: run `banger ui` for a login link")
			return
		}
		upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		if (!safeMethod(r.Method) || upgrade) && !s.sameOrigin(r) {
			deny(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		ctx := r.Context()
		if g.who {
			ctx = access.WithCaller(ctx, g.caller)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) sessionOf(r *http.Request) (grant, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return grant{}, false
	}
	return s.grants.session(ck.Value, s.now())
}

// login exchanges the token in the URL for a session cookie and sends
// the browser to the UI without the token in its address bar.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		deny(w, http.StatusMethodNotAllowed, "GET /login?token=...")
		return
	}
	sid, ok := s.grants.redeem(r.URL.Query().Get("token"), s.now())
	if !ok {
		deny(w, http.StatusUnauthorized, "this login link is used or expired: run `banger ui` for a new one")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sid, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL / time.Second)})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func deny(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
