package hosttools

import (
	"errors"
	"strings"
	"testing"
)

func TestRequireNamesThePackage(t *testing.T) {
	have := map[string]bool{"mkfs.ext4": true}
	look := func(name string) (string, error) {
		if have[name] {
			return "/usr/sbin/" + name, nil
		}
		return "", errors.New("not found")
	}
	if err := Require(look, "mkfs.ext4"); err != nil {
		t.Fatalf("present tool: %v", err)
	}
	err := Require(look, "mkfs.ext4", "debootstrap", "ssh")
	if err == nil || !strings.Contains(err.Error(), "debootstrap is not installed") || !strings.Contains(err.Error(), "apt-get install debootstrap") {
		t.Fatalf("missing debootstrap: %v", err)
	}
	if err := Require(look, "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate is not installed") {
		t.Fatalf("unknown tool: %v", err)
	}
	err = RequireTools(look, Tool{Name: "mkfs.ext4"}, Tool{Name: "vmmctl", Package: "vmm-utils"})
	if err == nil || !strings.Contains(err.Error(), "vmmctl is not installed") || !strings.Contains(err.Error(), "apt-get install vmm-utils") {
		t.Fatalf("missing declared tool: %v", err)
	}
}
