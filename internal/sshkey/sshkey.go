// Package sshkey manages the daemon's ed25519 client key and banger's own
// known_hosts file, in which each VM's host key is pinned on first contact.
package sshkey

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"banger/internal/atomicfile"
)

// Ensure loads the private key at path, generating an ed25519 key (and
// path+".pub") on first use. It returns the signer and the authorized_keys
// line. Callers racing on a first use (goroutines or processes) all end up
// with the one key that was created first: the private key is made by an
// exclusive link, and path+".pub" is always written from the key on disk,
// so it never describes another key (ssh -i offers the .pub's key).
func Ensure(path string) (ssh.Signer, string, error) {
	signer, err := load(path)
	if errors.Is(err, os.ErrNotExist) {
		signer, err = create(path)
	}
	if err != nil {
		return nil, "", err
	}
	line := authorizedLine(signer.PublicKey())
	if cur, err := os.ReadFile(path + ".pub"); err != nil || string(cur) != line+"\n" {
		if err := atomicfile.Write(path+".pub", []byte(line+"\n"), 0o644); err != nil {
			return nil, "", err
		}
	}
	return signer, line, nil
}

// load reads and parses the private key at path.
func load(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh key %s: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse ssh key %s: %w (move it away to have banger generate a new one)", path, err)
	}
	return signer, nil
}

// create makes a new key at path unless another caller made one first
// (os.Link fails on an existing name), and returns the key at path.
func create(path string) (ssh.Signer, error) {
	key, _, err := NewKey("banger")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create ssh key dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return nil, fmt.Errorf("write ssh key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(key)
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return nil, fmt.Errorf("write ssh key %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("install ssh key %s: %w", path, err)
	}
	return load(path)
}

// NewKey makes an ed25519 key: its private key in OpenSSH's file format
// and its public key as an authorized_keys line (comment "banger").
func NewKey(comment string) ([]byte, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate ssh key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, "", fmt.Errorf("encode ssh key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("encode ssh public key: %w", err)
	}
	return pem.EncodeToMemory(block), authorizedLine(sshPub), nil
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " banger"
}

// ErrHostKeyMismatch is returned when a VM presents a host key other than
// the one pinned for it.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// KnownHosts is banger's own known_hosts file. Entries are keyed by a host
// key alias (one per VM), never by IP, since addresses are reused.
type KnownHosts struct {
	Path string
	mu   sync.Mutex
}

// Alias is the known_hosts name of a VM.
func Alias(vmID string) string { return "banger-" + vmID }

// Callback returns an ssh.HostKeyCallback that pins the first key it sees for
// alias and rejects any other key afterwards.
func (k *KnownHosts) Callback(alias string) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		pinned, err := k.lookup(alias)
		if err != nil {
			return err
		}
		if len(pinned) == 0 {
			return k.appendLine(knownhosts.Line([]string{alias}, key))
		}
		for _, p := range pinned {
			if bytes.Equal(p.Marshal(), key.Marshal()) {
				return nil
			}
		}
		return fmt.Errorf("%w: the VM presented %s %s but banger pinned another key for it in %s; "+
			"this may be a man-in-the-middle. If the VM's root disk was replaced on purpose, run `banger vm delete` and create it again",
			ErrHostKeyMismatch, key.Type(), ssh.FingerprintSHA256(key), k.Path)
	}
}

func (k *KnownHosts) lookup(alias string) ([]ssh.PublicKey, error) {
	f, err := os.Open(k.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known hosts: %w", err)
	}
	defer f.Close()
	var keys []ssh.PublicKey
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, hosts, key, _, _, err := ssh.ParseKnownHosts(sc.Bytes())
		if err != nil {
			continue
		}
		for _, h := range hosts {
			if h == alias {
				keys = append(keys, key)
			}
		}
	}
	return keys, sc.Err()
}

func (k *KnownHosts) appendLine(line string) error {
	if err := os.MkdirAll(filepath.Dir(k.Path), 0o700); err != nil {
		return fmt.Errorf("pin host key: %w", err)
	}
	f, err := os.OpenFile(k.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("pin host key: %w", err)
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return fmt.Errorf("pin host key: %w", err)
	}
	return f.Close()
}

// Forget removes every entry for alias, rewriting the file atomically.
func (k *KnownHosts) Forget(alias string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, err := os.ReadFile(k.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read known hosts: %w", err)
	}
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		_, hosts, _, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err == nil && len(hosts) == 1 && hosts[0] == alias {
			continue
		}
		out.WriteString(line)
	}
	return atomicfile.Write(k.Path, out.Bytes(), 0o644)
}
