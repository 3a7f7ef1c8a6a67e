package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/atomicfile"
	"banger/internal/store"
)

// intent is what a VM's directory records about work on the VM that must
// not survive a crash half-done (intent.json, written before the work
// starts):
//   - Creating: the VM's disks are being made. A VM still creating when the
//     daemon starts was cut off by a crash; reconcile deletes it.
//   - Remove: the VM lives as long as the request that created it (`vm run
//     --rm`). The daemon deletes it when that request ends, and reconcile
//     deletes it when the daemon starts (the request died with the daemon).
type intent struct {
	Creating bool `json:"creating,omitempty"`
	Remove   bool `json:"rm,omitempty"`
}

func intentPath(vmDir string) string { return filepath.Join(vmDir, "intent.json") }

// writeIntent records in in vmDir; an empty intent removes the file.
func writeIntent(vmDir string, in intent) error {
	if in == (intent{}) {
		if err := os.Remove(intentPath(vmDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("clear intent: %w", err)
		}
		return nil
	}
	if err := atomicfile.WriteJSON(intentPath(vmDir), in, 0o600); err != nil {
		return fmt.Errorf("record intent: %w", err)
	}
	return nil
}

// readIntent returns the intent recorded in vmDir; none is the zero intent.
// A file that does not parse counts as Creating: it was cut off while it
// was written, which only happens at create.
func readIntent(vmDir string) intent {
	b, err := os.ReadFile(intentPath(vmDir))
	if err != nil {
		return intent{}
	}
	var in intent
	if json.Unmarshal(b, &in) != nil {
		return intent{Creating: true}
	}
	return in
}

// markCreating notes that id's disks are being made: Delete and Prune
// leave it alone until doneCreating.
func (s *Service) markCreating(id string) {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	if s.creating == nil {
		s.creating = map[string]bool{}
	}
	s.creating[id] = true
}

func (s *Service) doneCreating(id string) {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	delete(s.creating, id)
}

func (s *Service) isCreating(id string) bool {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	return s.creating[id]
}

// errCreating is Delete's answer for a VM whose create is under way.
func errCreating(v store.VM) error {
	return fmt.Errorf("VM %s is still being created (%w); delete it once `banger vm list` shows it", v.Name, ErrInUse)
}

// HoldRemove keeps a VM created with Remove for as long as ctx lives (the
// request that created it), then deletes it. A VM deleted meanwhile is
// not an error.
func (s *Service) HoldRemove(ctx context.Context, id string) error {
	<-ctx.Done()
	return s.removeIfMarked(context.WithoutCancel(ctx), id)
}

// removeIfMarked deletes VM id when its intent says Remove.
func (s *Service) removeIfMarked(ctx context.Context, id string) error {
	if !readIntent(s.vmDir(id)).Remove {
		return nil
	}
	err := s.Delete(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil {
		s.Log.InfoContext(ctx, "deleted --rm VM whose client went away", "id", id)
	}
	return err
}
