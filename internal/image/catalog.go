package image

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/image/catalog"
	"banger/internal/progress"
)

// Catalog returns the embedded catalog merged with the remote one. When
// the remote catalog cannot be had, it returns the embedded one and the
// error as a warning (the catalog is still usable).
func (s *Service) Catalog(ctx context.Context) (catalog.Catalog, error) {
	c, err := catalog.Load(ctx, s.HTTPClient, catalog.Embedded(), s.CatalogURL)
	if err != nil && c.Version == 0 {
		return c, fmt.Errorf("image catalog: %w", err)
	}
	if err != nil {
		return c, &CatalogWarning{Err: err}
	}
	return c, nil
}

// CatalogWarning says the remote catalog was not used.
type CatalogWarning struct{ Err error }

func (w *CatalogWarning) Error() string {
	return fmt.Sprintf("%v; using the built-in catalog only (check catalog_url in the config)", w.Err)
}

func (w *CatalogWarning) Unwrap() error { return w.Err }

// catalogOrWarn loads the catalog, passing a remote failure on as a
// progress message.
func (s *Service) catalogOrWarn(ctx context.Context, p progress.Func) (catalog.Catalog, error) {
	c, err := s.Catalog(ctx)
	var w *CatalogWarning
	if errors.As(err, &w) {
		p.Msg("catalog", "warning: "+w.Error())
		s.Log.WarnContext(ctx, "remote catalog", "err", w.Err)
		return c, nil
	}
	return c, err
}
