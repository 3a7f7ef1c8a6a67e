package ui

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"banger/internal/api"
	"banger/internal/vm"
)

// sse writes server-sent events to w.
type sse struct {
	w http.ResponseWriter
	f *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, f: http.NewResponseController(w)}
	_ = s.f.Flush()
	return s
}

// send writes one event of type typ with v as its JSON data.
func (s *sse) send(typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
		return err
	}
	return s.f.Flush()
}

// VMStats is one sample of a running VM's stats on the event stream.
type VMStats struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	api.Stats
}

// events streams the VM list ("vms", sent at once and again after every
// event of the VM service) and the running VMs' stats ("stats", sampled
// every StatsEvery), until the page goes away.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	changed := make(chan struct{}, 1)
	changed <- struct{}{}
	sub := s.VMs.Subscribe(func(vm.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer sub.Close()
	every := s.StatsEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	out := startSSE(w)
	var running []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			var vms []api.VM
			if err := s.apiCall(ctx, http.MethodGet, api.Endpoints.ListVMs.URL(), &vms); err != nil {
				_ = out.send("failure", err.Error())
				continue
			}
			running = running[:0]
			for _, v := range vms {
				if v.State == "running" {
					running = append(running, v.Name)
				}
			}
			if out.send("vms", vms) != nil {
				return
			}
		case <-tick.C:
			if s.sendStats(ctx, out, running) != nil {
				return
			}
		}
	}
}

// sendStats sends one stats sample of each VM in names; a VM whose agent
// does not answer within a second is left out of this round.
func (s *Server) sendStats(ctx context.Context, out *sse, names []string) error {
	for _, name := range names {
		var st api.Stats
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.apiCall(cctx, http.MethodGet, api.Endpoints.Stats.URL(name), &st)
		cancel()
		if err != nil {
			continue
		}
		if err := out.send("stats", VMStats{Name: name, At: s.now(), Stats: st}); err != nil {
			return err
		}
	}
	return nil
}

// ConsoleChunk is the most a console event carries, and ConsolePoll how
// often the console stream looks for more once it has sent all there is.
const (
	ConsoleChunk = 32 << 10
	ConsolePoll  = 250 * time.Millisecond
)

// console streams a VM's serial console log from its start ("data"
// events, base64 of the bytes), then what the guest writes next, until
// the page goes away.
func (s *Server) console(w http.ResponseWriter, r *http.Request) {
	ctx, name := r.Context(), r.PathValue("name")
	buf := make([]byte, ConsoleChunk)
	n, err := s.readConsole(ctx, name, 0, buf) // an unknown VM is an API error, before the stream
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	out := startSSE(w)
	var off int64
	for ctx.Err() == nil {
		if n > 0 {
			off += int64(n)
			if out.send("data", base64.StdEncoding.EncodeToString(buf[:n])) != nil {
				return
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-time.After(ConsolePoll):
			}
		}
		if n, err = s.readConsole(ctx, name, off, buf); err != nil {
			_ = out.send("failure", err.Error())
			return
		}
	}
}

// readConsole reads what the console log holds from off on into buf.
func (s *Server) readConsole(ctx context.Context, name string, off int64, buf []byte) (int, error) {
	rc, err := s.VMs.OpenConsoleLog(ctx, name, off)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return n, err
}

// apiCall calls the daemon's API handler in process, as the caller in
// ctx, and decodes its JSON answer into out. An error answer becomes an
// error carrying the API's own words.
func (s *Server) apiCall(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	s.API.ServeHTTP(rec, req)
	if rec.code != http.StatusOK {
		var e api.Error
		if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Message != "" {
			return &e
		}
		return fmt.Errorf("%s %s: status %d", method, path, rec.code)
	}
	return json.Unmarshal(rec.body.Bytes(), out)
}

// failAPI answers with err as the API words it: an API error as it came,
// anything else as a failed operation.
func (s *Server) failAPI(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*api.Error)
	if !ok {
		e = &api.Error{Kind: api.KindFailed, Message: err.Error()}
	}
	code := http.StatusBadRequest
	switch e.Kind {
	case api.KindNotFound:
		code = http.StatusNotFound
	case api.KindForbidden:
		code = http.StatusForbidden
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(e)
}

// recorder is an in-memory http.ResponseWriter for apiCall; it keeps at
// most maxAnswer bytes.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

const maxAnswer = 8 << 20

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(p) > maxAnswer {
		return 0, fmt.Errorf("answer over %d bytes", maxAnswer)
	}
	return r.body.Write(p)
}
