package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/access"
	"banger/internal/image/catalog"
)

// BundleResult describes a bundle written by BundleImage or BundleKernel.
type BundleResult struct {
	Entry     catalog.Entry
	File      string // the .tar.zst
	EntryFile string // <File>.json: the catalog.json stanza
}

// BundleImage writes a catalog bundle of an image into outDir, with its
// catalog entry as JSON next to it.
func (s *Service) BundleImage(ctx context.Context, name, outDir string) (BundleResult, error) {
	r, err := s.Get(ctx, name)
	if err != nil {
		return BundleResult{}, err
	}
	spec := catalog.BundleSpec{Kind: catalog.KindImage, Name: r.Image.Name, KernelRef: r.Kernel.Name,
		Description: "from " + r.Image.Source, Files: map[string]string{catalog.RootfsFile: r.Image.Rootfs}}
	if src, ok := strings.CutPrefix(r.Image.Source, "debootstrap:"); ok {
		spec.Distro = "debian"
		spec.Description = "Debian " + src + " with systemd and sshd"
	}
	return s.writeBundle(ctx, spec, outDir, func(e catalog.Entry) any { return e.Image() })
}

// BundleKernel writes a catalog bundle of a kernel into outDir.
func (s *Service) BundleKernel(ctx context.Context, name, outDir string) (BundleResult, error) {
	k, err := s.Store.GetKernel(ctx, name)
	if err != nil {
		return BundleResult{}, err
	}
	kfile, err := kernelFileName(k.Path)
	if err != nil {
		return BundleResult{}, fmt.Errorf("bundle kernel %s: %w", name, err)
	}
	spec := catalog.BundleSpec{Kind: catalog.KindKernel, Name: k.Name, Version: k.Version,
		Files: map[string]string{kfile: k.Path}}
	if k.Initrd != "" {
		spec.Files[catalog.InitrdFile] = k.Initrd
	}
	return s.writeBundle(ctx, spec, outDir, func(e catalog.Entry) any { return e.Kernel() })
}

func (s *Service) writeBundle(ctx context.Context, spec catalog.BundleSpec, outDir string, stanza func(catalog.Entry) any) (BundleResult, error) {
	if !filepath.IsAbs(outDir) {
		return BundleResult{}, fmt.Errorf("bundle %s: output directory %q: %w: give an absolute path", spec.Name, outDir, ErrInvalid)
	}
	// The daemon writes the bundle as root, where the caller says.
	if err := access.RequireAdmin(ctx, "bundle "+spec.Name); err != nil {
		return BundleResult{}, err
	}
	s.Log.InfoContext(ctx, "writing bundle", "kind", spec.Kind, "name", spec.Name, "out", outDir)
	e, err := catalog.WriteBundle(spec, outDir)
	if err != nil {
		return BundleResult{}, fmt.Errorf("bundle %s %s: %w", spec.Kind, spec.Name, err)
	}
	data, err := json.MarshalIndent(stanza(e), "", "  ")
	if err != nil {
		return BundleResult{}, err
	}
	entryFile := e.File + ".json"
	tmp := entryFile + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return BundleResult{}, fmt.Errorf("bundle %s: %w", spec.Name, err)
	}
	if err := os.Rename(tmp, entryFile); err != nil {
		os.Remove(tmp)
		return BundleResult{}, fmt.Errorf("bundle %s: %w", spec.Name, err)
	}
	return BundleResult{Entry: e, File: e.File, EntryFile: entryFile}, nil
}
