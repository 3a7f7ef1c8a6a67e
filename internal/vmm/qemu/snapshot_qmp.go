package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/poll"
)

// Snapshot modes: how a template's state was saved.
const (
	// ModeIgnoreShared saves device state only: the RAM is in the shared
	// memory file (x-ignore-shared, experimental in QEMU).
	ModeIgnoreShared = "ignore-shared"
	// ModeStream saves the RAM in the migration stream too: the fallback
	// when x-ignore-shared is refused.
	ModeStream = "stream"
)

const capIgnoreShared = "x-ignore-shared"

// migrationEvery is how often a migration's progress is asked for.
const migrationEvery = 5 * time.Millisecond

// setIgnoreShared turns x-ignore-shared on for the next migration.
func setIgnoreShared(ctx context.Context, c *QMPClient) error {
	_, err := c.Execute(ctx, "migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": capIgnoreShared, "state": true}},
	})
	return err
}

// stateFD is the name under which the daemon hands QEMU the descriptor of
// a template's state file (QMP getfd). QEMU migrates to and from that
// descriptor ("fd:" URI): it cannot run a helper (the sandbox denies
// spawn; QEMU 7.2 has no file: migration) and, dropped to its own uid,
// cannot open the template's files itself.
const stateFD = "banger-state"

// saveState pauses the guest and writes its migration stream to path,
// through a descriptor the daemon opens. It tries x-ignore-shared first
// and falls back to the full stream; it returns the mode it used.
func saveState(ctx context.Context, c *QMPClient, path string) (string, error) {
	if _, err := c.Execute(ctx, "stop", nil); err != nil {
		return "", fmt.Errorf("pause guest: %w", err)
	}
	mode := ModeIgnoreShared
	if err := setIgnoreShared(ctx, c); err != nil {
		var qe *QMPError
		if !errors.As(err, &qe) {
			return "", fmt.Errorf("enable %s: %w", capIgnoreShared, err)
		}
		mode = ModeStream
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return "", fmt.Errorf("save state: %w", err)
	}
	defer f.Close()
	if err := migrateFD(ctx, c, "migrate", f); err != nil {
		return "", fmt.Errorf("save state to %s: %w", path, err)
	}
	// "completed" means QEMU wrote it all; make it durable before the
	// template is recorded.
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("save state to %s: %w", path, err)
	}
	return mode, nil
}

// migrateFD runs command (migrate or migrate-incoming) over a descriptor
// of f and waits until the migration ends.
func migrateFD(ctx context.Context, c *QMPClient, command string, f *os.File) error {
	if err := c.SendFile(ctx, stateFD, f); err != nil {
		return err
	}
	if _, err := c.Execute(ctx, command, map[string]any{"uri": "fd:" + stateFD}); err != nil {
		return err
	}
	return waitMigration(ctx, c)
}

// loadState feeds the stream at path to a QEMU started with -incoming
// defer, waits for it to finish and resumes the guest (the template was
// paused when it was saved, so the clone stays paused until told).
func loadState(ctx context.Context, c *QMPClient, path, mode string) error {
	if mode == ModeIgnoreShared {
		if err := setIgnoreShared(ctx, c); err != nil {
			return fmt.Errorf("enable %s: %w", capIgnoreShared, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	defer f.Close()
	if err := migrateFD(ctx, c, "migrate-incoming", f); err != nil {
		return fmt.Errorf("load state from %s: %w", path, err)
	}
	if _, err := c.Execute(ctx, "cont", nil); err != nil {
		return fmt.Errorf("resume guest: %w", err)
	}
	return nil
}

// waitMigration polls query-migrate until the migration completed or
// failed.
// migrationWait bounds a save or a load: a migration stuck "active" (a
// stalled exec:cat) fails the save, or sends a restore to its cold boot,
// instead of holding the request for ever.
const migrationWait = time.Minute

func waitMigration(ctx context.Context, c *QMPClient) error {
	ctx, cancel := context.WithTimeout(ctx, migrationWait)
	defer cancel()
	return poll.Until(ctx, migrationEvery, nil, func(ctx context.Context) (bool, error) {
		raw, err := c.Execute(ctx, "query-migrate", nil)
		if err != nil {
			return false, err
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return false, fmt.Errorf("decode query-migrate: %w", err)
		}
		switch st.Status {
		case "completed":
			return true, nil
		case "failed", "cancelled":
			return false, fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc)
		}
		return false, nil
	})
}
