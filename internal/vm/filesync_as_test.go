package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"banger/internal/access"
	"banger/internal/progress"
)

// TestSyncFilesReadsAsTheOwner: the file sync of a VM owned by a user who
// is not root reads host files with that user's permissions. A file only
// root may read, or one reached through a link to it, is skipped; a tree
// loses what the user may not read; files the user may read arrive.
func TestSyncFilesReadsAsTheOwner(t *testing.T) {
	u, dir := nobodyDir(t)
	write := func(rel, content string, mode os.FileMode) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("secret", "root only", 0o600)
	public := write("public", "for all", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	write("tree/ok.txt", "OK", 0o644)
	write("tree/hidden.txt", "root only", 0o600)

	srv := &recordingServer{}
	c, err := ssh.Dial("tcp", srv.serve(t), &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := &Guest{FileSync: []FileSync{
		{Host: secret, Guest: "/root/secret"},
		{Host: link, Guest: "/root/link"},
		{Host: public, Guest: "/root/public"},
		{Host: filepath.Join(dir, "tree"), Guest: "/root/tree"},
		{Host: "/root/.gitconfig", HomeRel: ".gitconfig", Guest: "/root/.gitconfig"},
	}}
	var msgs []string
	ctx := withFilesOf(context.Background(), u.UID)
	if err := g.syncFiles(ctx, c, func(e progress.Event) { msgs = append(msgs, e.Message) }); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(srv.cmds, "\n") + "\n" + strings.Join(msgs, "\n")
	if len(srv.cmds) != 2 || !strings.Contains(srv.cmds[0], "put 644 /root/public") || !strings.Contains(srv.cmds[1], "/root/tree") {
		t.Fatalf("commands sent (want the public file and the tree only):\n%s", all)
	}
	if string(srv.ins[0]) != "for all" {
		t.Errorf("public file content %q", srv.ins[0])
	}
	if bytes.Contains(bytes.Join(srv.ins, nil), []byte("root only")) {
		t.Errorf("a file only root may read reached the guest:\n%s", all)
	}
	names := tarNames(t, srv.ins[1])
	if !strings.Contains(names, "ok.txt") || strings.Contains(names, "hidden.txt") {
		t.Errorf("tree entries %s: want ok.txt without hidden.txt", names)
	}
	for _, want := range []string{"skipping " + secret, "skipping " + link, filepath.Join(u.Home, ".gitconfig"), "read as " + u.Name} {
		if !strings.Contains(all, want) {
			t.Errorf("progress does not say %q:\n%s", want, all)
		}
	}
}

// nobodyDir is the user nobody and a directory it may read (the test
// skips, saying why, without root or without that user).
func nobodyDir(t *testing.T) (access.User, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to read files as another user")
	}
	u, err := access.LookupUser(65534)
	if err != nil {
		t.Skipf("no uid 65534 (nobody): %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return u, dir
}

func tarNames(t *testing.T, b []byte) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		names = append(names, h.Name)
	}
	return strings.Join(names, " ")
}

// TestSyncFilesAsHonoursTheLimit: a file read as the VM's owner is held
// to the configured SyncLimit, as one read as root is.
func TestSyncFilesAsHonoursTheLimit(t *testing.T) {
	u, dir := nobodyDir(t)
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := &recordingServer{}
	c, err := ssh.Dial("tcp", srv.serve(t), &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := &Guest{SyncLimit: 100, FileSync: []FileSync{{Host: big, Guest: "/root/big"}}}
	err = g.syncFiles(withFilesOf(context.Background(), u.UID), c, func(progress.Event) {})
	if err == nil || !strings.Contains(err.Error(), "100") {
		t.Fatalf("syncing 4096 bytes with a 100-byte limit: %v, want the limit's error", err)
	}
	for _, in := range srv.ins {
		if len(in) > 100 {
			t.Errorf("the guest got %d bytes, past the limit of 100", len(in))
		}
	}
}
