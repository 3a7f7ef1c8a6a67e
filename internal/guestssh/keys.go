package guestssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// HostKeyPath is where an image may carry the guest's SSH host key
// (OpenSSH private key format).
const HostKeyPath = "/etc/banger/ssh_host_ed25519_key"

// WorkHostKeyPath is where the host writes each VM's own SSH host key
// before its first boot: on the VM's work disk, which the host makes per
// VM and the guest mounts on /root. The host pins its public half before
// the VM boots, so no key is made in the guest.
const WorkHostKeyPath = "/root/.banger/ssh_host_ed25519_key"

// HostKeyPaths are where HostKey looks, in order.
func HostKeyPaths() []string { return []string{WorkHostKeyPath, HostKeyPath} }

// AuthorizedKeysPaths are the files read at every login attempt. The work
// disk mounted on /root carries the daemon's key.
func AuthorizedKeysPaths() []string {
	return []string{"/root/.ssh/authorized_keys", "/etc/banger/authorized_keys"}
}

// CmdlineKeyParam passes one more authorized key on the kernel command
// line: the base64 of its SSH wire form (the middle field of an
// authorized_keys line).
const CmdlineKeyParam = "banger.authkey"

// HostKey loads the key at the first of paths that exists or, when there
// is none, makes an ed25519 key that lives as long as the process. A key
// is never made on disk.
func HostKey(paths ...string) (ssh.Signer, error) {
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read host key %s: %w", path, err)
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("parse host key %s: %w", path, err)
		}
		return s, nil
	}
	return GenerateKey()
}

// GenerateKey makes an ed25519 key in memory.
func GenerateKey() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

// AuthorizedKeys returns a lister for Server.AuthorizedKeys: the keys in
// the files at paths (missing files count as empty; unparsable lines are
// skipped) plus extra.
func AuthorizedKeys(paths []string, extra ...ssh.PublicKey) func() ([]ssh.PublicKey, error) {
	return func() ([]ssh.PublicKey, error) {
		keys := append([]ssh.PublicKey(nil), extra...)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			keys = append(keys, parseAuthorizedKeys(b)...)
		}
		return keys, nil
	}
}

func parseAuthorizedKeys(b []byte) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for len(b) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return keys // ParseAuthorizedKey already skips bad lines
		}
		keys = append(keys, k)
		b = rest
	}
	return keys
}

// CmdlineKeys reads the banger.authkey= keys from a kernel command line.
func CmdlineKeys(cmdline string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, CmdlineKeyParam+"=")
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		k, err := ssh.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
