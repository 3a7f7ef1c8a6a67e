// Package oci imports container images (from a registry, an OCI layout
// directory or a docker-archive tarball) as bootable banger root filesystems:
// it flattens the layers into a directory without ever letting an entry land
// outside it, injects what banger needs to boot, and packs an ext4 file.
package oci

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"

	"banger/internal/image/imageref"
)

// Kind says where an image comes from.
type Kind int

const (
	// KindRegistry is a registry reference such as docker.io/library/debian:12.
	KindRegistry Kind = iota + 1
	// KindLayout is an OCI image layout directory (it holds an oci-layout file).
	KindLayout
	// KindDockerArchive is a `docker save` tarball.
	KindDockerArchive
)

func (k Kind) String() string {
	switch k {
	case KindRegistry:
		return "registry"
	case KindLayout:
		return "oci-layout"
	case KindDockerArchive:
		return "docker-archive"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Source is an image to import; build it with ParseSource.
type Source struct {
	Kind Kind
	// Ref is the registry reference (KindRegistry) or the absolute path of
	// the layout directory or archive.
	Ref string
}

// String returns a description suitable for store.Image.Source.
func (s Source) String() string { return s.Kind.String() + ":" + s.Ref }

// ParseSource decides what ref names (imageref.Classify): an existing
// directory holding an oci-layout file is a layout, an existing regular file
// is a docker archive, anything else must parse as a registry reference.
func ParseSource(ref string) (Source, error) {
	if ref == "" {
		return Source{}, errors.New("image source is empty")
	}
	kind := KindRegistry
	switch imageref.Classify(ref) {
	case imageref.Layout:
		kind = KindLayout
	case imageref.Archive:
		kind = KindDockerArchive
	case imageref.PlainDir:
		return Source{}, fmt.Errorf("image source %s is a directory but not an OCI layout (no oci-layout file)", ref)
	case imageref.Special:
		return Source{}, fmt.Errorf("image source %s is neither a directory nor a regular file", ref)
	}
	if kind != KindRegistry {
		abs, err := filepath.Abs(ref)
		if err != nil {
			return Source{}, fmt.Errorf("image source %s: %w", ref, err)
		}
		return Source{Kind: kind, Ref: abs}, nil
	}
	r, perr := name.ParseReference(ref)
	if perr != nil {
		return Source{}, fmt.Errorf("image source %q is not an existing path nor a registry reference: %w", ref, perr)
	}
	return Source{Kind: KindRegistry, Ref: r.String()}, nil
}
