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
	err := Require(look, "mkfs.ext4", "qemu-img", "debootstrap")
	if err == nil || !strings.Contains(err.Error(), "qemu-img is not installed") || !strings.Contains(err.Error(), "apt-get install qemu-utils") {
		t.Fatalf("missing qemu-img: %v", err)
	}
	if err := Require(look, "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate is not installed") {
		t.Fatalf("unknown tool: %v", err)
	}
}
