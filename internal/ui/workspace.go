package ui

import (
	"fmt"
	"net/http"
	"strings"

	"banger/internal/api"
	"banger/internal/dnsname"
	"banger/internal/limit"
	"banger/internal/shquote"
	"banger/internal/workspace"
)

// MaxPatch bounds the patch the Workspace tab downloads; the daemon holds
// it whole, so that a failed export is an error and not half a patch.
const MaxPatch = 64 << 20

// patch answers with the VM's workspace changes as a patch, as `banger vm
// workspace export` prints them (the same script, over the same SSH
// channel): with ?since=base, everything since the commit the workspace
// was prepared from; else the uncommitted changes only.
func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	ctx, name := r.Context(), r.PathValue("name")
	var v api.VM
	if err := s.apiCall(ctx, http.MethodGet, api.Endpoints.GetVM.URL(name), &v); err != nil {
		s.failAPI(w, r, err)
		return
	}
	if v.Workspace == nil {
		s.failAPI(w, r, fmt.Errorf("VM %s has no workspace: copy one in with `banger vm workspace prepare %s PATH`", v.Name, v.Name))
		return
	}
	base := ""
	if r.URL.Query().Get("since") == "base" {
		base = v.Workspace.Head
	}
	client, err := s.dialGuest(ctx, v)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("open a session in %s: %w", v.Name, err))
		return
	}
	defer sess.Close()
	out := limit.NewBuffer(MaxPatch, "the workspace patch", func() { _ = sess.Close() })
	errOut := limit.NewBuffer(64<<10, "the export's errors", nil)
	sess.Stdout, sess.Stderr = out, errOut
	cmd := shquote.Join("sh", "-c", workspace.ExportScript, "banger-export", v.Workspace.GuestPath, base)
	if err := sess.Run(cmd); err != nil || out.Err() != nil {
		if out.Err() != nil {
			err = out.Err()
		}
		s.failAPI(w, r, fmt.Errorf("export the workspace of %s: %w: %s", v.Name, err, strings.TrimSpace(string(errOut.Bytes()))))
		return
	}
	file := "workspace.patch"
	if dnsname.ValidLabel(v.Name) {
		file = v.Name + ".patch"
	}
	w.Header().Set("Content-Type", "text/x-diff; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	_, _ = w.Write(out.Bytes())
}
