package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server answers requests in the guest.
type Server struct {
	Version  string
	ProcRoot string // "/proc" unless testing
	// Statfs sizes file systems for "stats"; SysStatfs when nil.
	Statfs Statfs
	// Shutdown, when set, is offered as method "shutdown": it starts a
	// clean power-off and returns at once, so the reply goes out first.
	Shutdown func()
	// SSHHostKey, when set, is the authorized_keys line of the SSH
	// server's host key: hello then lists CapabilitySSH and sends it.
	SSHHostKey string
	// Settle and Identity, when set, are offered as methods "settle" and
	// "identity" (see identity.go): a guest ready to be saved as a
	// template, and a clone restored from one taking its own identity.
	Settle   func() (Settled, error)
	Identity func(Identity) (IdentityResult, error)

	mu sync.Mutex // guards SSHHostKey, which "identity" replaces
}

// methods is the table of everything the server answers. Hello lists its
// keys as capabilities.
func (s *Server) methods() map[string]func() (any, error) {
	m := map[string]func() (any, error){
		"hello": func() (any, error) {
			host, _ := os.Hostname()
			return Hello{Protocol: ProtocolVersion, Version: s.Version, Hostname: host,
				Capabilities: s.capabilities(), SSHHostKey: s.sshHostKey(), Work: workMounted(s.procRoot())}, nil
		},
		"health": func() (any, error) { return Health{OK: true, UptimeSeconds: s.uptime()}, nil },
		"ports":  func() (any, error) { return listeningPorts(s.procRoot()) },
		"stats":  func() (any, error) { return s.stats() },
	}
	if s.Shutdown != nil {
		m["shutdown"] = func() (any, error) {
			s.Shutdown()
			return struct{}{}, nil
		}
	}
	return m
}

func (s *Server) capabilities() []string {
	m := s.methods()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	for k := range s.paramMethods() {
		names = append(names, k)
	}
	if s.sshHostKey() != "" {
		names = append(names, CapabilitySSH)
	}
	sort.Strings(names)
	return names
}

func (s *Server) sshHostKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.SSHHostKey
}

func (s *Server) setSSHHostKey(k string) {
	if k == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.SSHHostKey = k
}

func (s *Server) procRoot() string {
	if s.ProcRoot == "" {
		return "/proc"
	}
	return s.ProcRoot
}

// Serve reads requests from a serial port and writes responses until ctx
// ends or the port fails. A serial port reports EOF whenever the host side
// is not connected, so EOF means "wait and read again".
func (s *Server) Serve(ctx context.Context, rw io.ReadWriter) error {
	return s.serve(ctx, rw, true)
}

// ServeConn answers one connection (e.g. over vsock) until it closes.
func (s *Server) ServeConn(ctx context.Context, rw io.ReadWriter) error {
	err := s.serve(ctx, rw, false)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// EOF on a serial port (no host connected) is read again after a pause
// that starts at eofMin and doubles up to eofMax, and starts over after
// each request: a host that connects soon after the last one left (the
// next request of a burst; a clone restored from a snapshot taken just
// after a request) is answered within milliseconds, while an idle guest
// wakes five times a second.
const (
	eofMin = 5 * time.Millisecond
	eofMax = 200 * time.Millisecond
)

func (s *Server) serve(ctx context.Context, rw io.ReadWriter, retryEOF bool) error {
	r := bufio.NewReader(rw)
	pause := eofMin
	for ctx.Err() == nil {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			pause = eofMin
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			resp := s.handle(line)
			b, _ := json.Marshal(resp)
			if _, werr := rw.Write(append(b, '\n')); werr != nil && !errors.Is(werr, io.EOF) {
				return fmt.Errorf("write response: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			if !retryEOF {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, eofMax)
			continue
		}
		if err != nil {
			return fmt.Errorf("read request: %w", err)
		}
	}
	return ctx.Err()
}

func (s *Server) handle(line []byte) Response {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Response{Error: "bad request: " + err.Error()}
	}
	fn, ok := s.methods()[req.Method]
	if pfn, pok := s.paramMethods()[req.Method]; pok {
		fn, ok = func() (any, error) { return pfn(req.Params) }, true
	}
	if !ok {
		return Response{ID: req.ID, Error: fmt.Sprintf("unknown method %q", req.Method)}
	}
	result, err := fn()
	if err != nil {
		return Response{ID: req.ID, Error: err.Error()}
	}
	b, err := json.Marshal(result)
	if err != nil {
		return Response{ID: req.ID, Error: err.Error()}
	}
	return Response{ID: req.ID, Result: b}
}

func (s *Server) uptime() float64 {
	b, err := os.ReadFile(s.procRoot() + "/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
