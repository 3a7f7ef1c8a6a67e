// Package hosttools names the host programs banger runs and the Debian
// packages that provide them, so that a missing one is reported with the
// command that installs it.
package hosttools

import (
	"fmt"
	"os/exec"
)

var packages = map[string]string{
	"qemu-system-x86_64": "qemu-system-x86",
	"qemu-img":           "qemu-utils",
	"debootstrap":        "debootstrap",
	"mkfs.ext4":          "e2fsprogs",
	"debugfs":            "e2fsprogs",
	"ssh":                "openssh-client",
	"ip":                 "iproute2",
	"nft":                "nftables",
	"git":                "git",
	"tar":                "tar",
}

// Package returns the Debian package that provides tool ("" if unknown).
func Package(tool string) string { return packages[tool] }

// Require checks that every tool is on PATH (lookPath nil means
// exec.LookPath) and names the package to install for the first missing one.
func Require(lookPath func(string) (string, error), tools ...string) error {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	for _, t := range tools {
		if _, err := lookPath(t); err != nil {
			if pkg := Package(t); pkg != "" {
				return fmt.Errorf("%s is not installed: run `apt-get install %s` (or `make deps`), then retry", t, pkg)
			}
			return fmt.Errorf("%s is not installed or not on PATH", t)
		}
	}
	return nil
}
