package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Server answers requests in the guest.
type Server struct {
	Version  string
	ProcRoot string // "/proc" unless testing
}

// Serve reads requests from rw and writes responses until ctx ends or rw
// returns an error other than io.EOF. A serial port reports EOF whenever
// the host side is not connected, so EOF means "wait and read again".
func (s *Server) Serve(ctx context.Context, rw io.ReadWriter) error {
	r := bufio.NewReader(rw)
	for ctx.Err() == nil {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			resp := s.handle(line)
			b, _ := json.Marshal(resp)
			if _, werr := rw.Write(append(b, '\n')); werr != nil && !errors.Is(werr, io.EOF) {
				return fmt.Errorf("write response: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
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
	var result any
	switch req.Method {
	case "hello":
		host, _ := os.Hostname()
		result = Hello{Protocol: ProtocolVersion, Version: s.Version, Hostname: host}
	case "health":
		result = Health{OK: true, UptimeSeconds: s.uptime()}
	default:
		return Response{ID: req.ID, Error: fmt.Sprintf("unknown method %q", req.Method)}
	}
	b, err := json.Marshal(result)
	if err != nil {
		return Response{ID: req.ID, Error: err.Error()}
	}
	return Response{ID: req.ID, Result: b}
}

func (s *Server) uptime() float64 {
	root := s.ProcRoot
	if root == "" {
		root = "/proc"
	}
	b, err := os.ReadFile(root + "/uptime")
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
