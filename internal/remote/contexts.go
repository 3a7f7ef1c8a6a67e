package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"banger/internal/atomicfile"
)

// Contexts are named daemon hosts, one of them maybe current, as
// `docker context` keeps them. They are the client user's: the file is
// theirs, not the daemon's.
type Contexts struct {
	Current string            `json:"current,omitempty"`
	Hosts   map[string]string `json:"hosts"` // name: ssh://... URL
}

// maxContextsFile bounds the read of the contexts file.
const maxContextsFile = 1 << 20

// DefaultContext is the name `context use` takes for the local daemon.
const DefaultContext = "default"

var contextNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// CheckContextName refuses names that are not short plain words, and
// "default" (the local daemon).
func CheckContextName(name string) error {
	if !contextNameRE.MatchString(name) || name == DefaultContext {
		return fmt.Errorf("context name %q: use letters, digits, '.', '_' and '-' (not %q)", name, DefaultContext)
	}
	return nil
}

// ContextsPath is the contexts file of the user whose environment getenv
// reads: $XDG_CONFIG_HOME/banger/contexts.json, else under ~/.config.
func ContextsPath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "banger", "contexts.json"), nil
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".config", "banger", "contexts.json"), nil
	}
	return "", errors.New("neither $XDG_CONFIG_HOME nor $HOME is set: no place for banger's contexts")
}

// LoadContexts reads path; a missing file is no contexts.
func LoadContexts(path string) (Contexts, error) {
	c := Contexts{Hosts: map[string]string{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxContextsFile+1))
	if err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxContextsFile {
		return c, fmt.Errorf("read %s: larger than %d bytes", path, maxContextsFile)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	if c.Hosts == nil {
		c.Hosts = map[string]string{}
	}
	return c, nil
}

// Save writes c to path atomically, readable by its owner only.
func (c Contexts) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteJSON(path, c, 0o600)
}

// Names are the contexts' names, sorted.
func (c Contexts) Names() []string {
	names := make([]string, 0, len(c.Hosts))
	for n := range c.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CurrentHost is the current context's host; ok is false when none is
// current (the local daemon).
func (c Contexts) CurrentHost() (Host, bool, error) {
	if c.Current == "" {
		return Host{}, false, nil
	}
	u, found := c.Hosts[c.Current]
	if !found {
		return Host{}, false, fmt.Errorf("the current context %q does not exist: `banger context use default` or create it", c.Current)
	}
	h, err := Parse(u)
	return h, err == nil, err
}
