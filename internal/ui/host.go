package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// HostCheck is one line of `banger doctor` as the Host page shows it.
type HostCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail, info
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
	Hard   bool   `json:"hard,omitempty"`
}

// HostReport is the Host page: doctor's checks and the backend chosen.
type HostReport struct {
	VMM    string      `json:"vmm"`
	Checks []HostCheck `json:"checks"`
}

// doctorTimeout bounds one run of the host checks.
const doctorTimeout = time.Minute

// host answers the Host page with the checks of `banger doctor`, run by
// the daemon on its host (Server.Doctor; none when nil).
func (s *Server) host(w http.ResponseWriter, r *http.Request) {
	var rep HostReport
	if s.Doctor != nil {
		ctx, cancel := context.WithTimeout(r.Context(), doctorTimeout)
		defer cancel()
		d := s.Doctor(ctx)
		rep.VMM = d.VMM
		for _, c := range d.Checks {
			rep.Checks = append(rep.Checks, HostCheck{Name: c.Name, Status: string(c.Status), Detail: c.Detail, Fix: c.Fix, Hard: c.Hard})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}
