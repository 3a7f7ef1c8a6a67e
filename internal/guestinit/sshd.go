package guestinit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"

	"banger/internal/guestssh"
)

// SSHDir is where an image's sshd keeps its host keys.
const SSHDir = "/etc/ssh"

// sshdKey is the VM's own host key, in OpenSSH's file format, and its
// public half: the key the host wrote on the work disk
// (guestssh.WorkHostKeyPath), as written, or, from an older host, one
// made here.
func sshdKey(root string) ([]byte, ssh.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(root, guestssh.WorkHostKeyPath))
	if errors.Is(err, os.ErrNotExist) {
		return newKey()
	}
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", guestssh.WorkHostKeyPath, err)
	}
	if signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		return nil, nil, fmt.Errorf("%s is not an ed25519 key", guestssh.WorkHostKeyPath)
	}
	return b, signer.PublicKey(), nil
}

// newKey makes an ed25519 key in OpenSSH's file format.
func newKey() ([]byte, ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "root@banger")
	if err != nil {
		return nil, nil, err
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), spub, nil
}

// RekeySSHD gives the image's sshd, when it has one, a host key of its own:
// a clone restored from a snapshot would otherwise share its template's.
// It writes the VM's key (sshdKey), removes the other host keys (they would be
// shared too) and has the running sshd reload (SIGHUP). root is "/" but in
// tests; it returns the new public key ("" without sshd).
func RekeySSHD(root string) (string, error) {
	dir := filepath.Join(root, SSHDir)
	if _, err := os.Stat(filepath.Join(dir, "sshd_config")); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	private, pub, err := sshdKey(root)
	if err != nil {
		return "", fmt.Errorf("sshd host key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " root@banger"
	old, _ := filepath.Glob(filepath.Join(dir, "ssh_host_*_key*"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(key, private, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	if err := os.WriteFile(key+".pub", []byte(line+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write %s.pub: %w", key, err)
	}
	reloadSSHD(filepath.Join(root, "proc"))
	return line, nil
}

// reloadSSHD sends SIGHUP to the sshd listeners (sshd processes whose
// parent is init): sshd re-executes itself and reads its keys again.
func reloadSSHD(proc string) {
	ents, _ := os.ReadDir(proc)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(proc, e.Name(), "comm"))
		if strings.TrimSpace(string(comm)) != "sshd" || parentPID(filepath.Join(proc, e.Name(), "stat")) != 1 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGHUP)
	}
}

// parentPID reads field 4 of /proc/<pid>/stat (0 when unreadable).
func parentPID(stat string) int {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
