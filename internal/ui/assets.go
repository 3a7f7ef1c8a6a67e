package ui

import (
	"embed"
	"net/http"
)

// assets are the UI's page, script and styles, and the vendored xterm.js
// and uPlot (see docs/dependencies.md; `make ui` fetches them again).
//
//go:embed assets
var assets embed.FS

func serveIndex(w http.ResponseWriter) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
