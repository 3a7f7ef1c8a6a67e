package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"

	"banger/internal/progress"
	"banger/internal/shquote"
)

// recordingServer is an SSH server that records each exec request's
// command and stdin, and answers exit status 0.
type recordingServer struct {
	mu   sync.Mutex
	cmds []string
	ins  [][]byte
}

func (r *recordingServer) serve(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go r.handle(nc, cfg)
		}
	}()
	return ln.Addr().String()
}

func (r *recordingServer) handle(nc net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range chReqs {
				if req.Type != "exec" {
					req.Reply(false, nil)
					continue
				}
				var p struct{ Command string }
				ssh.Unmarshal(req.Payload, &p)
				req.Reply(true, nil)
				in, _ := io.ReadAll(ch)
				r.mu.Lock()
				r.cmds = append(r.cmds, p.Command)
				r.ins = append(r.ins, in)
				r.mu.Unlock()
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
				ch.Close()
			}
		}()
	}
}

func TestSyncFilesSendsFilesAndDirectories(t *testing.T) {
	srv := &recordingServer{}
	addr := srv.serve(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "gitconfig")
	os.WriteFile(file, []byte("[user]\n\tname = Me\n"), 0o640)
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "a.txt"), []byte("A"), 0o644)
	os.Symlink("sub/a.txt", filepath.Join(tree, "link"))
	if err := syscall.Mkfifo(filepath.Join(tree, "sub", "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}

	var msgs []string
	s := &Guest{FileSync: []FileSync{
		{Host: file, Guest: "/root/.gitconfig"},
		{Host: file, Guest: "/root/with space/cfg", Mode: 0o600},
		{Host: filepath.Join(dir, "missing"), Guest: "/root/missing"},
		{Host: tree, Guest: "/root/tree"},
	}}
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = s.syncFiles(context.Background(), c, func(e progress.Event) { msgs = append(msgs, e.Message) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/usr/local/bin/banger-agent put 640 /root/.gitconfig",
		"/usr/local/bin/banger-agent put 600 '/root/with space/cfg'",
		`sh -c 'mkdir -p "$1" && tar -x --no-same-owner -C "$1"' banger-sync /root/tree`,
	}
	if strings.Join(srv.cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(srv.cmds, "\n"), strings.Join(want, "\n"))
	}
	if string(srv.ins[0]) != "[user]\n\tname = Me\n" {
		t.Errorf("file content sent: %q", srv.ins[0])
	}
	tr := tar.NewReader(bytes.NewReader(srv.ins[2]))
	entries := map[string]string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		entries[h.Name] = string(b) + h.Linkname
	}
	if _, ok := entries["sub/pipe"]; ok || entries["sub/a.txt"] != "A" || entries["link"] != "sub/a.txt" {
		t.Errorf("tar entries: %v", entries)
	}
	if len(msgs) != 4 || !strings.Contains(msgs[2], "skipping") {
		t.Errorf("progress messages: %q", msgs)
	}

	bad := &Guest{FileSync: []FileSync{{Host: file, Guest: "/etc/passwd"}}}
	if err := bad.syncFiles(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "under /root") {
		t.Errorf("guest outside /root: %v", err)
	}
}

func TestSetGitIdentityQuotesValues(t *testing.T) {
	srv := &recordingServer{}
	addr := srv.serve(t)
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := setGitIdentity(context.Background(), c, GitIdentity{Name: "Ada O'Neil", Email: ""}); err != nil {
		t.Fatal(err)
	}
	want := shquote.Join("sh", "-c", gitIdentityScript, "sh", "Ada O'Neil", "", "[user]\n\tname = \"Ada O'Neil\"\n")
	if len(srv.cmds) != 1 || srv.cmds[0] != want {
		t.Fatalf("commands: %q", srv.cmds)
	}
}
