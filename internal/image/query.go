package image

import (
	"context"
	"errors"

	"banger/internal/image/catalog"
	"banger/internal/store"
)

// Errors of the service's methods that callers tell apart with errors.Is,
// besides ErrInvalid and ErrNoRecipe.
var (
	ErrNotFound      = store.ErrNotFound
	ErrAlreadyExists = store.ErrAlreadyExists
	ErrInUse         = store.ErrInUse
)

// Kernel is a kernel record as the service hands it out.
type Kernel = store.Kernel

// Info is an image record with the name of its kernel.
type Info struct {
	store.Image
	KernelName string // "" when the kernel cannot be found
}

// Describe adds to an image record what Info shows beside it.
func (s *Service) Describe(ctx context.Context, img store.Image) Info {
	in := Info{Image: img}
	if k, err := s.Store.GetKernel(ctx, img.KernelID); err == nil {
		in.KernelName = k.Name
	}
	return in
}

// Images lists every image.
func (s *Service) Images(ctx context.Context) ([]Info, error) {
	imgs, err := s.Store.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, s.Describe(ctx, img))
	}
	return out, nil
}

// Image returns one image by name or id.
func (s *Service) Image(ctx context.Context, name string) (Info, error) {
	img, err := s.Store.GetImage(ctx, name)
	if err != nil {
		return Info{}, err
	}
	return s.Describe(ctx, img), nil
}

// Kernels lists every kernel.
func (s *Service) Kernels(ctx context.Context) ([]Kernel, error) {
	return s.Store.ListKernels(ctx)
}

// Kernel returns one kernel by name or id.
func (s *Service) Kernel(ctx context.Context, name string) (Kernel, error) {
	return s.Store.GetKernel(ctx, name)
}

// Available is the catalog and which of its entries are installed.
type Available struct {
	Images  []AvailableImage
	Kernels []AvailableKernel
	// Warning is set when the remote catalog could not be used.
	Warning string
}

// AvailableImage is a catalog image; Installed when an image of its name is.
type AvailableImage struct {
	catalog.Image
	Installed bool
}

// AvailableKernel is a catalog kernel; Installed when a kernel of its name is.
type AvailableKernel struct {
	catalog.Kernel
	Installed bool
}

// Available returns the catalog (see Catalog) with what of it is installed.
func (s *Service) Available(ctx context.Context) (Available, error) {
	var out Available
	cat, err := s.Catalog(ctx)
	var warn *CatalogWarning
	if errors.As(err, &warn) {
		out.Warning, err = warn.Error(), nil
	}
	if err != nil {
		return out, err
	}
	for _, i := range cat.Images {
		_, gerr := s.Store.GetImage(ctx, i.Name)
		out.Images = append(out.Images, AvailableImage{Image: i, Installed: gerr == nil})
	}
	for _, k := range cat.Kernels {
		_, gerr := s.Store.GetKernel(ctx, k.Name)
		out.Kernels = append(out.Kernels, AvailableKernel{Kernel: k, Installed: gerr == nil})
	}
	return out, nil
}

// Image is an image record as the service's operations hand it out.
type Image = store.Image
