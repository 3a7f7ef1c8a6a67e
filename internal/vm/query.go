package vm

import (
	"context"
	"fmt"
	"io"

	"banger/internal/access"
	"banger/internal/forward"
	"banger/internal/logcap"
)

// OpenConsoleLog opens a VM's serial console log at byte offset, counted
// over everything the console ever wrote (the log is capped and rotated:
// see logcap.Open). A VM that never booted has an empty log.
func (s *Service) OpenConsoleLog(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	path, err := s.ConsoleLog(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := logcap.Open(path, consoleKeep, offset)
	if err != nil {
		return nil, fmt.Errorf("open console log of %s: %w", name, err)
	}
	return rc, nil
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
