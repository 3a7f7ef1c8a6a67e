package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/doctor"
	"banger/internal/sshkey"
	"banger/internal/ui"
)

// uiRoutes registers Endpoints.UILogin: a one-time login URL of the web
// UI for the caller.
func (h *Handlers) uiRoutes(mux *http.ServeMux) {
	handle(mux, h, api.Endpoints.UILogin, func(r *http.Request, _ api.Empty) (api.UILogin, error) {
		if h.UI == nil {
			return api.UILogin{}, badRequest(`the web UI is off: set ui_addr in the config (it is "off") and restart bangerd`)
		}
		return h.UI.Login(r.Context()), nil
	})
}

// uiAPI is the API as the web UI calls it: each request is admitted as
// the user whose UI session it carries, exactly as if that user had
// called over the socket, and served by the same handlers.
func (h *Handlers) uiAPI() http.Handler {
	routes := h.Routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if c, ok := access.CallerFrom(ctx); ok {
			ctx = context.WithValue(ctx, peerKey{}, peer{caller: c})
		} else {
			ctx = context.WithValue(ctx, peerKey{}, peer{err: errors.New("a UI session without a user")})
		}
		routes.ServeHTTP(w, r.WithContext(ctx))
	})
}

// serveUI serves the web UI on cfg.UIAddr (loopback; "off": not at all)
// until the returned stop is called. A UI that cannot listen is logged
// and left off: the daemon serves its API regardless.
func (h *Handlers) serveUI(ctx context.Context, cfg *config.Config, opts Options, log *slog.Logger) (stop func()) {
	if cfg.UIAddr == "off" {
		return func() {}
	}
	ln, err := net.Listen("tcp", cfg.UIAddr)
	if err != nil {
		log.Warn("the web UI is off: cannot listen", "addr", cfg.UIAddr, "err", err)
		return func() {}
	}
	h.UI = &ui.Server{
		Addr:       ln.Addr().String(),
		API:        h.uiAPI(),
		VMs:        h.VMs,
		KeyPath:    cfg.SSHKeyPath,
		KnownHosts: &sshkey.KnownHosts{Path: cfg.KnownHostsPath()},
		Log:        log,
		Doctor:     doctorOf(cfg, opts),
	}
	srv := &http.Server{Handler: h.UI.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("web UI", "err", err)
		}
	}()
	log.Info("web UI", "url", fmt.Sprintf("http://%s/", ln.Addr()))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}
}

// doctorOf runs `banger doctor`'s checks with the daemon's config, for the
// UI's Host page.
func doctorOf(cfg *config.Config, opts Options) func(context.Context) doctor.Report {
	return func(ctx context.Context) doctor.Report {
		return doctor.Run(ctx, doctor.Inputs{
			StateDir: cfg.StateDir, RuntimeDir: cfg.RuntimeDir, BridgeName: cfg.BridgeName,
			VMM: cfg.VMM, Backends: opts.Backends, Env: cfg.VMMEnv(nil),
		})
	}
}
