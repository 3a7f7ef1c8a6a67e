package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// lockRootPassword sets root's password hash in /etc/shadow to "!*": no
// password can ever match, so root logs in by SSH key only.
func lockRootPassword(root *os.Root) error {
	data, err := root.ReadFile("etc/shadow")
	if err != nil {
		return fmt.Errorf("reading /etc/shadow: %w", err)
	}
	fi, err := root.Lstat("etc/shadow")
	if err != nil {
		return fmt.Errorf("checking /etc/shadow: %w", err)
	}
	locked, err := lockShadowRoot(data)
	if err != nil {
		return err
	}
	if err := WriteFile(root, "etc/shadow", fi.Mode().Perm(), bytes.NewReader(locked)); err != nil {
		return fmt.Errorf("writing /etc/shadow: %w", err)
	}
	return nil
}

// lockShadowRoot returns shadow with root's password field set to "!*".
func lockShadowRoot(shadow []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(shadow), "\n")
	found := false
	for i, l := range lines {
		fields := strings.Split(strings.TrimRight(l, "\n"), ":")
		if len(fields) < 2 || fields[0] != "root" {
			continue
		}
		fields[1] = "!*"
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		lines[i] = strings.Join(fields, ":") + nl
		found = true
	}
	if !found {
		return nil, errors.New("no root entry in /etc/shadow")
	}
	return []byte(strings.Join(lines, "")), nil
}
