package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/net/websocket"

	"banger/internal/api"
	"banger/internal/sshdial"
	"banger/internal/sshkey"
)

// ShellInput is a message the Shell tab sends: "data" (keystrokes),
// "resize" (the terminal's new size) or "signal" (Name, e.g. "INT").
type ShellInput struct {
	Type string `json:"type"`
	Data string `json:"data,omitempty"`
	Cols int    `json:"cols,omitempty"`
	Rows int    `json:"rows,omitempty"`
	Name string `json:"name,omitempty"`
}

// maxShellMessage bounds one message from the page.
const maxShellMessage = 64 << 10

// shell bridges a WebSocket to an interactive shell in the VM: an SSH
// session with a PTY on a new SSH connection over the VM's agent channel
// (vm.Service.Connect, as `vm ssh` uses it), authenticated with the
// daemon's key and checked against the VM's pinned host key. Output goes
// to the page as binary messages; the page sends ShellInput as text.
func (s *Server) shell(w http.ResponseWriter, r *http.Request) {
	ctx, name := r.Context(), r.PathValue("name")
	var v api.VM
	if err := s.apiCall(ctx, http.MethodGet, api.Endpoints.GetVM.URL(name), &v); err != nil {
		s.failAPI(w, r, err)
		return
	}
	cols, rows := dim(r.URL.Query().Get("cols"), 80), dim(r.URL.Query().Get("rows"), 24)
	client, err := s.dialGuest(ctx, v)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	defer client.Close()
	ws := websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil }, // the guard checked the Origin
		Handler: func(ws *websocket.Conn) {
			ws.MaxPayloadBytes = maxShellMessage
			if err := runShell(ctx, client, ws, cols, rows); err != nil {
				s.Log.WarnContext(ctx, "ui shell", "vm", v.Name, "err", err)
				_ = websocket.Message.Send(ws, []byte("\r\n[banger: "+err.Error()+"]\r\n"))
			}
		},
	}
	ws.ServeHTTP(w, r)
}

// dialGuest opens an SSH connection to v over its agent channel.
func (s *Server) dialGuest(ctx context.Context, v api.VM) (*ssh.Client, error) {
	signer, _, err := sshkey.Ensure(s.KeyPath)
	if err != nil {
		return nil, err
	}
	conn, err := s.VMs.Connect(ctx, v.Name)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   s.KnownHosts.Callback(sshkey.Alias(v.ID)),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return sshdial.Client(hctx, conn, sshkey.Alias(v.ID), cfg)
}

// runShell runs a login shell with a PTY of cols×rows and copies between
// it and ws until either ends.
func runShell(ctx context.Context, client *ssh.Client, ws *websocket.Conn, cols, rows int) error {
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("open a session: %w", err)
	}
	defer sess.Close()
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty("xterm-256color", rows, cols, modes); err != nil {
		return fmt.Errorf("request a terminal: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return err
	}
	out := &wsWriter{ws: ws}
	sess.Stdout, sess.Stderr = out, out
	if err := sess.Shell(); err != nil {
		return fmt.Errorf("start the shell: %w", err)
	}
	go pumpInput(ws, sess, stdin)
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-ctx.Done():
	case <-done:
	}
	return nil
}

// pumpInput feeds the page's messages to the session until the page goes
// away, then closes the session.
func pumpInput(ws *websocket.Conn, sess *ssh.Session, stdin io.WriteCloser) {
	defer sess.Close()
	for {
		var raw []byte
		if err := websocket.Message.Receive(ws, &raw); err != nil {
			return
		}
		var in ShellInput
		if json.Unmarshal(raw, &in) != nil {
			continue
		}
		switch in.Type {
		case "data":
			if _, err := io.WriteString(stdin, in.Data); err != nil {
				return
			}
		case "resize":
			_ = sess.WindowChange(dim(strconv.Itoa(in.Rows), 24), dim(strconv.Itoa(in.Cols), 80))
		case "signal":
			if in.Name == "INT" {
				_ = sess.Signal(ssh.SIGINT)
			}
		}
	}
}

// wsWriter sends what is written as binary WebSocket messages.
type wsWriter struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (w *wsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := websocket.Message.Send(w.ws, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// dim parses a terminal dimension, def when absent or out of 1..1000.
func dim(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return def
	}
	return n
}
