// Package hosttools names the host programs banger runs and the Debian
// packages that provide them, so that a missing one is reported with the
// command that installs it. The VMM backends declare their own tools (see
// vmm.Backend.Tools); this table holds the ones banger itself runs.
package hosttools

import (
	"fmt"
	"os/exec"
)

// Tool is a host program and the Debian package that provides it.
type Tool struct {
	Name    string // program name on PATH, or an absolute path
	Package string // Debian package; "" if unknown
}

var packages = map[string]string{
	"debootstrap": "debootstrap",
	"mkfs.ext4":   "e2fsprogs",
	"debugfs":     "e2fsprogs",
	"ssh":         "openssh-client",
	"ip":          "iproute2",
	"nft":         "nftables",
	"git":         "git",
	"tar":         "tar",
}

// Package returns the Debian package that provides tool ("" if unknown).
func Package(tool string) string { return packages[tool] }

// Require checks that every tool is on PATH (lookPath nil means
// exec.LookPath) and names the package to install for the first missing one.
func Require(lookPath func(string) (string, error), tools ...string) error {
	ts := make([]Tool, len(tools))
	for i, t := range tools {
		ts[i] = Tool{Name: t, Package: Package(t)}
	}
	return RequireTools(lookPath, ts...)
}

// RequireTools is Require for tools that name their own package.
func RequireTools(lookPath func(string) (string, error), tools ...Tool) error {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	for _, t := range tools {
		if _, err := lookPath(t.Name); err != nil {
			return Missing(t)
		}
	}
	return nil
}

// Missing is the error for a tool that is not installed.
func Missing(t Tool) error {
	if t.Package != "" {
		return fmt.Errorf("%s is not installed: run `apt-get install %s` (or `make deps`), then retry", t.Name, t.Package)
	}
	return fmt.Errorf("%s is not installed or not on PATH", t.Name)
}
