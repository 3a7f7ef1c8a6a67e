package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Image is a root filesystem VMs are cloned from.
type Image struct {
	ID        string
	Name      string
	Rootfs    string
	KernelID  string // may be empty; otherwise must name an existing kernel
	SizeBytes int64
	Managed   bool   // banger owns the files and may delete them
	Source    string // where it came from, e.g. "debootstrap:bookworm" or a path
	Init      string // init=<Init> on the kernel command line; "" for the default
	CreatedAt time.Time
}

const imageCols = "id, name, rootfs, kernel_id, size_bytes, managed, source, created_at, init"

// CreateImage inserts img. An empty ID is replaced by NewID() and a zero
// CreatedAt by the current time; the stored record is returned. A KernelID
// that does not exist yields ErrNotFound.
func (s *Store) CreateImage(ctx context.Context, img Image) (Image, error) {
	return s.insertImage(ctx, s.db, img)
}

func (s *Store) insertImage(ctx context.Context, db execer, img Image) (Image, error) {
	if img.Name == "" {
		return Image{}, errors.New("creating image: name is required")
	}
	if img.Rootfs == "" {
		return Image{}, fmt.Errorf("creating image %q: rootfs is required", img.Name)
	}
	if img.SizeBytes < 0 {
		return Image{}, fmt.Errorf("creating image %q: negative size %d", img.Name, img.SizeBytes)
	}
	if img.ID == "" {
		img.ID = NewID()
	}
	if img.CreatedAt.IsZero() {
		img.CreatedAt = s.now()
	}
	img.CreatedAt = img.CreatedAt.UTC()
	_, err := db.ExecContext(ctx,
		"INSERT INTO images("+imageCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		img.ID, img.Name, img.Rootfs, nullString(img.KernelID), img.SizeBytes,
		boolInt(img.Managed), img.Source, formatTime(img.CreatedAt), img.Init)
	if err != nil {
		switch {
		case isUnique(err):
			return Image{}, duplicateError("image", err, map[string]string{"id": img.ID, "name": img.Name})
		case isForeignKey(err):
			return Image{}, fmt.Errorf("creating image %q: kernel %q: %w", img.Name, img.KernelID, ErrNotFound)
		}
		return Image{}, fmt.Errorf("creating image %q: %w", img.Name, err)
	}
	return img, nil
}

// GetImage looks an image up by ID, or failing that by name.
func (s *Store) GetImage(ctx context.Context, idOrName string) (Image, error) {
	return getByIDOrName(ctx, s.db, scanImage, "image", "images", imageCols, idOrName)
}

// ListImages returns all images ordered by name.
func (s *Store) ListImages(ctx context.Context) ([]Image, error) {
	return queryAll(ctx, s.db, scanImage, "listing images", "SELECT "+imageCols+" FROM images ORDER BY name")
}

// ImagesUsingKernel returns the images that reference kernelID.
func (s *Store) ImagesUsingKernel(ctx context.Context, kernelID string) ([]Image, error) {
	return queryAll(ctx, s.db, scanImage, fmt.Sprintf("listing images using kernel %q", kernelID),
		"SELECT "+imageCols+" FROM images WHERE kernel_id = ? ORDER BY name", kernelID)
}

// DeleteImage removes the image with the given ID. It returns ErrInUse if
// a VM still references it and ErrNotFound if it does not exist.
func (s *Store) DeleteImage(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM images WHERE id = ?", id)
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("image %q is used by a VM: %w", id, ErrInUse)
		}
		return fmt.Errorf("deleting image %q: %w", id, err)
	}
	return checkAffected(res, "image", id)
}

func scanImage(r scanner) (Image, error) {
	var (
		img     Image
		kernel  sql.NullString
		managed int
		created string
	)
	if err := r.Scan(&img.ID, &img.Name, &img.Rootfs, &kernel, &img.SizeBytes, &managed, &img.Source, &created, &img.Init); err != nil {
		return Image{}, err
	}
	img.KernelID = kernel.String
	img.Managed = managed != 0
	t, err := parseTime(created)
	if err != nil {
		return Image{}, err
	}
	img.CreatedAt = t
	return img, nil
}

// PromotedKernel gives the new location of a kernel that is promoted
// together with an image.
type PromotedKernel struct {
	ID     string
	Path   string
	Initrd string
}

// PromoteImage records, in one transaction, that an image's rootfs (and
// optionally its kernel's files) moved into banger-owned storage: the new
// paths are stored and both records are marked managed.
func (s *Store) PromoteImage(ctx context.Context, imageID, rootfs string, k *PromotedKernel) error {
	if rootfs == "" {
		return fmt.Errorf("promoting image %q: rootfs is required", imageID)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("promoting image %q: %w", imageID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "UPDATE images SET rootfs = ?, managed = 1 WHERE id = ?", rootfs, imageID)
	if err != nil {
		return fmt.Errorf("promoting image %q: %w", imageID, err)
	}
	if err := checkUpdated(res, "image", imageID); err != nil {
		return err
	}
	if k != nil {
		if k.Path == "" {
			return fmt.Errorf("promoting kernel %q: path is required", k.ID)
		}
		res, err := tx.ExecContext(ctx, "UPDATE kernels SET path = ?, initrd = ?, managed = 1 WHERE id = ?", k.Path, k.Initrd, k.ID)
		if err != nil {
			return fmt.Errorf("promoting kernel %q: %w", k.ID, err)
		}
		if err := checkUpdated(res, "kernel", k.ID); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("promoting image %q: %w", imageID, err)
	}
	return nil
}

func checkUpdated(res sql.Result, kind, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("updating %s %q: %w", kind, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	return nil
}
