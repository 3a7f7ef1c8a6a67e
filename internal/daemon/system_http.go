package daemon

import (
	"net/http"
	"os"

	"banger/internal/api"
)

func (h *Handlers) systemRoutes(mux *http.ServeMux) {
	handle(mux, h, api.Endpoints.Ping, func(*http.Request, api.Empty) (api.Ping, error) {
		return api.Ping{Version: h.Version, PID: os.Getpid(), Socket: h.Socket}, nil
	})
	mux.HandleFunc(api.Endpoints.Shutdown.Pattern(), func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Status{Status: "shutting down"})
		if h.Shutdown != nil {
			go h.Shutdown()
		}
	})
}
