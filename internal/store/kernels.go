package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kernel is a guest kernel (and optional initrd) known to banger.
type Kernel struct {
	ID        string
	Name      string
	Path      string
	Initrd    string
	Version   string
	Managed   bool // banger owns the files and may delete them
	CreatedAt time.Time
}

const kernelCols = "id, name, path, initrd, version, managed, created_at"

// CreateKernel inserts k. An empty ID is replaced by NewID() and a zero
// CreatedAt by the current time; the stored record is returned.
func (s *Store) CreateKernel(ctx context.Context, k Kernel) (Kernel, error) {
	return s.insertKernel(ctx, s.db, k)
}

func (s *Store) insertKernel(ctx context.Context, db execer, k Kernel) (Kernel, error) {
	if k.Name == "" {
		return Kernel{}, errors.New("creating kernel: name is required")
	}
	if k.Path == "" {
		return Kernel{}, fmt.Errorf("creating kernel %q: path is required", k.Name)
	}
	if k.ID == "" {
		k.ID = NewID()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	k.CreatedAt = k.CreatedAt.UTC()
	_, err := db.ExecContext(ctx,
		"INSERT INTO kernels("+kernelCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.Name, k.Path, k.Initrd, k.Version, boolInt(k.Managed), formatTime(k.CreatedAt))
	if err != nil {
		if isUnique(err) {
			return Kernel{}, duplicateError("kernel", err, map[string]string{"id": k.ID, "name": k.Name})
		}
		return Kernel{}, fmt.Errorf("creating kernel %q: %w", k.Name, err)
	}
	return k, nil
}

// GetKernel looks a kernel up by ID, or failing that by name.
func (s *Store) GetKernel(ctx context.Context, idOrName string) (Kernel, error) {
	return getByIDOrName(ctx, s.db, scanKernel, "kernel", "kernels", kernelCols, idOrName)
}

// ListKernels returns all kernels ordered by name.
func (s *Store) ListKernels(ctx context.Context) ([]Kernel, error) {
	return queryAll(ctx, s.db, scanKernel, "listing kernels", "SELECT "+kernelCols+" FROM kernels ORDER BY name")
}

// DeleteKernel removes the kernel with the given ID. It returns ErrInUse
// if an image still references it and ErrNotFound if it does not exist.
func (s *Store) DeleteKernel(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM kernels WHERE id = ?", id)
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("kernel %q is used by an image: %w", id, ErrInUse)
		}
		return fmt.Errorf("deleting kernel %q: %w", id, err)
	}
	return checkAffected(res, "kernel", id)
}

func scanKernel(r scanner) (Kernel, error) {
	var (
		k       Kernel
		managed int
		created string
	)
	if err := r.Scan(&k.ID, &k.Name, &k.Path, &k.Initrd, &k.Version, &managed, &created); err != nil {
		return Kernel{}, err
	}
	k.Managed = managed != 0
	t, err := parseTime(created)
	if err != nil {
		return Kernel{}, err
	}
	k.CreatedAt = t
	return k, nil
}

func checkAffected(res sql.Result, kind, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("deleting %s %q: %w", kind, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	return nil
}
