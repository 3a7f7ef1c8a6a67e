package store

import (
	"context"
	"database/sql"
	"fmt"
)

// execer is what an insert needs: the database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// CreateKernelAndImage inserts k and img, whose KernelID becomes k's, in
// one transaction: a crash or an error leaves both rows or neither, never
// a kernel that no image names.
func (s *Store) CreateKernelAndImage(ctx context.Context, k Kernel, img Image) (Kernel, Image, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Kernel{}, Image{}, fmt.Errorf("creating kernel %q and image %q: %w", k.Name, img.Name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if k, err = s.insertKernel(ctx, tx, k); err != nil {
		return Kernel{}, Image{}, err
	}
	img.KernelID = k.ID
	if img, err = s.insertImage(ctx, tx, img); err != nil {
		return Kernel{}, Image{}, err
	}
	if err := tx.Commit(); err != nil {
		return Kernel{}, Image{}, fmt.Errorf("creating kernel %q and image %q: %w", k.Name, img.Name, err)
	}
	return k, img, nil
}
