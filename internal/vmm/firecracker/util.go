package firecracker

import (
	"strings"

	"banger/internal/vmm"
)

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// logTail formats the end of the log at path for an error message.

func logTail(path string) string { return vmm.LogTail(path, path) }
