package kubeenv

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestBuildLockIsExclusive: a second build waits for the first (test
// packages that need the control plane run in parallel).
func TestBuildLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kube.lock")
	unlock, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, path); err == nil {
		t.Fatal("a second lock was taken while the first was held")
	}
	unlock()
	again, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatalf("the lock after release: %v", err)
	}
	again()
}
