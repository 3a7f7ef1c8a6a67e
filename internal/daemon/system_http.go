package daemon

import (
	"net/http"
	"os"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/buildinfo"
)

func (h *Handlers) systemRoutes(mux *http.ServeMux) {
	b := buildinfo.Read(h.Version) // once: every CLI command pings
	ping := api.Ping{Version: b.Version, PID: os.Getpid(), Socket: h.Socket, APIVersion: api.Version,
		Commit: b.Commit, Modified: b.Modified, GoVersion: b.GoVersion, OS: b.OS, Arch: b.Arch}
	handle(mux, h, api.Endpoints.Ping, func(*http.Request, api.Empty) (api.Ping, error) { return ping, nil })
	route(mux, h, api.Endpoints.Shutdown, func(w http.ResponseWriter, r *http.Request, _ api.Empty) {
		if err := access.RequireAdmin(r.Context(), "shut bangerd down"); err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, api.Status{Status: "shutting down"})
		if h.Shutdown != nil {
			go h.Shutdown()
		}
	})
}
