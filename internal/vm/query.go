package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"banger/internal/access"
	"banger/internal/forward"
)

// OpenConsoleLog opens a VM's serial console log at byte offset. A VM
// that never booted has an empty log.
func (s *Service) OpenConsoleLog(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	path, err := s.ConsoleLog(ctx, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, fmt.Errorf("open console log of %s: %w", name, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("console log of %s: %w", name, err)
	}
	return f, nil
}

// ListForwards lists the active port forwards of every VM the caller in
// ctx may see.
func (s *Service) ListForwards(ctx context.Context) []forward.Forward {
	var out []forward.Forward
	for _, f := range s.Forwards.List("") {
		if v, err := s.Store.GetVM(ctx, f.VMID); err == nil && access.Owns(ctx, v.OwnerUID) {
			out = append(out, f)
		}
	}
	return out
}

// EndForward closes a port forward made by Forward.
func (s *Service) EndForward(id int) { s.Forwards.Remove(id) }
