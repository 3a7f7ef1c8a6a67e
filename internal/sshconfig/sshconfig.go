// Package sshconfig writes banger's own ssh_config file, one Host block per
// VM, so the plain ssh client (and scp, rsync, editors' remote plugins)
// reach a VM as NAME.vm, and includes that file from the user's
// ~/.ssh/config.
package sshconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"banger/internal/dnsname"
)

// Domain is the suffix of every VM's ssh host name.
const Domain = ".vm"

// Marker is the comment line Install puts above its Include line; Uninstall
// removes only the two lines together.
const Marker = "# Added by banger so that `ssh NAME.vm` reaches banger VMs; it must stay above any Host or Match line."

// Entry is one VM.
type Entry struct {
	Name string     // VM name: [a-z0-9-], becomes Host NAME.vm
	ID   string     // VM id: the known_hosts alias is banger-ID
	IP   netip.Addr // the VM's address
	// ProxyCommand, when set, reaches the VM over its agent (see
	// ProxyCommand): ssh NAME.vm then needs neither sshd in the guest nor
	// a route to its address.
	ProxyCommand string
}

// Render returns the ssh_config text for entries: one Host block each,
// sorted as given. keyPath is banger's private key and knownHosts banger's
// known_hosts file, both absolute. Entries whose name or id could break the
// file, or without an address, are left out.
func Render(entries []Entry, keyPath, knownHosts string) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by bangerd; edits are overwritten. One block per VM.\n")
	for _, e := range entries {
		if !dnsname.ValidLabel(e.Name) || !validID(e.ID) || !e.IP.IsValid() {
			continue
		}
		fmt.Fprintf(&b, "\nHost %s%s\n", e.Name, Domain)
		for _, kv := range [][2]string{
			{"HostName", e.IP.Unmap().String()},
			{"Port", "22"},
			{"User", "root"},
			{"IdentityFile", quotePath(keyPath)},
			{"IdentitiesOnly", "yes"},
			{"UserKnownHostsFile", quotePath(knownHosts)},
			{"GlobalKnownHostsFile", "/dev/null"},
			{"HostKeyAlias", "banger-" + e.ID},
			{"StrictHostKeyChecking", "yes"},
			{"HostKeyAlgorithms", "ssh-ed25519"},
			{"PasswordAuthentication", "no"},
		} {
			fmt.Fprintf(&b, "\t%s %s\n", kv[0], kv[1])
		}
		if e.ProxyCommand != "" && !strings.ContainsAny(e.ProxyCommand, "\r\n") {
			fmt.Fprintf(&b, "\tProxyCommand %s\n", e.ProxyCommand)
		}
	}
	return b.Bytes()
}

// quotePath makes p one ssh_config argument: '%' is a token prefix in
// IdentityFile and UserKnownHostsFile, and whitespace needs quotes.
func quotePath(p string) string {
	p = strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Write replaces path with data atomically (mode 0644: ssh refuses
// included files that others can write), creating its directory.
func Write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write ssh config: %w", err)
	}
	return writeAtomic(path, data, 0o644, nil)
}

// includeLine is the line Install adds for include.
func includeLine(include string) (string, error) {
	if !filepath.IsAbs(include) {
		return "", fmt.Errorf("ssh config include %q: must be an absolute path", include)
	}
	// Include expands globs, and newer OpenSSH also %-tokens and ${VAR}.
	if strings.ContainsAny(include, "\"\n\r*?[%$") {
		return "", fmt.Errorf("ssh config include %q: quotes, newlines, glob characters, %% and $ are not supported", include)
	}
	if strings.ContainsAny(include, " \t") {
		return `Include "` + include + `"`, nil
	}
	return "Include " + include, nil
}

// Install makes userConfig (normally ~/.ssh/config) start with Marker and
// an Include line for include, creating the file (0600) and its directory
// (0700) if needed. ssh uses the first value it finds for each option, and
// an Include placed after a Host line would apply only inside that block,
// so the two lines go first; if they are found elsewhere they move to the
// top. Everything else in the file is kept byte for byte; a symlinked
// config is edited where it points. changed reports whether the file was
// written.
func Install(userConfig, include string) (changed bool, err error) {
	line, err := includeLine(include)
	if err != nil {
		return false, err
	}
	target, old, mode, owner, err := readConfig(userConfig)
	if err != nil {
		return false, err
	}
	if old == nil {
		dir := filepath.Dir(target)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return false, fmt.Errorf("install ssh include: %w", err)
			}
			if o := dirOwner(filepath.Dir(dir)); o != nil && os.Geteuid() == 0 {
				if err := os.Chown(dir, o.uid, o.gid); err != nil {
					return false, fmt.Errorf("install ssh include: %w", err)
				}
			}
		}
		owner = dirOwner(dir)
	}
	rest, _ := strip(old, line)
	updated := append([]byte(Marker+"\n"+line+"\n"), rest...)
	if old != nil && bytes.Equal(updated, old) {
		return false, nil
	}
	if err := writeAtomic(target, updated, mode, owner); err != nil {
		return false, fmt.Errorf("install ssh include: %w", err)
	}
	return true, nil
}

// Uninstall removes the Marker and Include lines Install added for include
// from userConfig, and nothing else. A file left empty is removed: Install
// may have created it, and an empty ssh config means the same as none.
func Uninstall(userConfig, include string) (changed bool, err error) {
	line, err := includeLine(include)
	if err != nil {
		return false, err
	}
	target, old, mode, owner, err := readConfig(userConfig)
	if err != nil || old == nil {
		return false, err
	}
	rest, found := strip(old, line)
	if !found {
		return false, nil
	}
	if len(rest) == 0 {
		if err := os.Remove(target); err != nil {
			return false, fmt.Errorf("uninstall ssh include: %w", err)
		}
		return true, nil
	}
	if err := writeAtomic(target, rest, mode, owner); err != nil {
		return false, fmt.Errorf("uninstall ssh include: %w", err)
	}
	return true, nil
}

// strip removes every Marker line directly followed by line.
func strip(data []byte, line string) ([]byte, bool) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	found := false
	for i := 0; i < len(lines); i++ {
		if i+1 < len(lines) && trimEOL(lines[i]) == Marker && trimEOL(lines[i+1]) == line {
			found = true
			i++
			continue
		}
		out.Write(lines[i])
	}
	return out.Bytes(), found
}

func trimEOL(b []byte) string {
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
}

type fileOwner struct{ uid, gid int }

// readConfig resolves symlinks in path and reads the file; data is nil
// when it does not exist yet.
func readConfig(path string) (target string, data []byte, mode fs.FileMode, owner *fileOwner, err error) {
	target = path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, 0, nil, fmt.Errorf("ssh config %s: %w", path, err)
	} else if l, lerr := os.Readlink(path); lerr == nil {
		// A dangling symlink: create the file it points at.
		if !filepath.IsAbs(l) {
			l = filepath.Join(filepath.Dir(path), l)
		}
		target = l
	}
	st, err := os.Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return target, nil, 0o600, nil, nil
	}
	if err != nil {
		return "", nil, 0, nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", nil, 0, nil, fmt.Errorf("ssh config %s: not a regular file", target)
	}
	data, err = os.ReadFile(target)
	if err != nil {
		return "", nil, 0, nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	if data == nil {
		data = []byte{}
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		owner = &fileOwner{int(sys.Uid), int(sys.Gid)}
	}
	return target, data, st.Mode().Perm(), owner, nil
}

// dirOwner is the owner of dir, so that a config root creates in a user's
// home belongs to that user (ssh rejects a config owned by someone else).
func dirOwner(dir string) *fileOwner {
	st, err := os.Stat(dir)
	if err != nil {
		return nil
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return &fileOwner{int(sys.Uid), int(sys.Gid)}
	}
	return nil
}

func writeAtomic(path string, data []byte, mode fs.FileMode, owner *fileOwner) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if owner != nil && os.Geteuid() == 0 && (owner.uid != 0 || owner.gid != os.Getgid()) {
		if err := tmp.Chown(owner.uid, owner.gid); err != nil {
			tmp.Close()
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
