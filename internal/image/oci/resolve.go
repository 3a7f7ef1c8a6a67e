package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// platform is the only one banger boots.
var platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// resolve returns the linux/amd64 image src names.
func resolve(ctx context.Context, src Source, opts Options) (v1.Image, error) {
	switch src.Kind {
	case KindRegistry:
		return resolveRemote(ctx, src.Ref, opts)
	case KindLayout:
		p, err := layout.FromPath(src.Ref)
		if err != nil {
			return nil, fmt.Errorf("opening OCI layout %s: %w", src.Ref, err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading OCI layout %s: %w", src.Ref, err)
		}
		return pickFromIndex(idx, 0)
	case KindDockerArchive:
		img, err := tarball.ImageFromPath(src.Ref, nil)
		if err != nil {
			return nil, fmt.Errorf("reading docker archive %s: %w", src.Ref, err)
		}
		return img, nil
	}
	return nil, fmt.Errorf("unknown image source kind %v", src.Kind)
}

func resolveRemote(ctx context.Context, ref string, opts Options) (v1.Image, error) {
	var nameOpts []name.Option
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	if opts.PlainHTTP && isLoopback(r.Context().RegistryStr()) {
		nameOpts = append(nameOpts, name.Insecure)
		if r, err = name.ParseReference(ref, nameOpts...); err != nil {
			return nil, fmt.Errorf("parsing reference %q: %w", ref, err)
		}
	}
	base := opts.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	rt := &httpGuard{next: base, allowLoopbackHTTP: opts.PlainHTTP}
	desc, err := remote.Get(r,
		remote.WithContext(ctx),
		remote.WithAuth(authn.Anonymous),
		remote.WithTransport(rt),
		remote.WithPlatform(platform))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading index of %s: %w", ref, err)
		}
		return pickFromIndex(idx, 0)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", ref, err)
	}
	return img, nil
}

// pickFromIndex returns the linux/amd64 image of idx, descending into nested
// indexes. An entry without a platform is taken only when it is the sole
// image of its index (what layout.Write of a single image produces).
func pickFromIndex(idx v1.ImageIndex, depth int) (v1.Image, error) {
	if depth > 4 {
		return nil, errors.New("image indexes nested too deeply")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var seen []string
	var images, unplatformed []v1.Descriptor
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsImage():
			images = append(images, d)
			if d.Platform == nil {
				unplatformed = append(unplatformed, d)
				continue
			}
			seen = append(seen, d.Platform.String())
			if d.Platform.Satisfies(platform) {
				return idx.Image(d.Digest)
			}
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			img, err := pickFromIndex(child, depth+1)
			if err == nil {
				return img, nil
			}
			seen = append(seen, "index "+d.Digest.String())
		}
	}
	if len(images) == 1 && len(unplatformed) == 1 {
		img, err := idx.Image(unplatformed[0].Digest)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading image config: %w", err)
		}
		if (cf.OS != "" && cf.OS != platform.OS) || (cf.Architecture != "" && cf.Architecture != platform.Architecture) {
			return nil, fmt.Errorf("the image is %s/%s; banger needs %s", cf.OS, cf.Architecture, platform)
		}
		return img, nil
	}
	return nil, fmt.Errorf("no %s image in the index (found %s)", platform, strings.Join(seen, ", "))
}

// httpGuard refuses plain-HTTP requests except to loopback hosts when
// allowed: go-containerregistry falls back to HTTP for loopback and private
// (RFC 1918) registries on its own, which banger does not want.
type httpGuard struct {
	next              http.RoundTripper
	allowLoopbackHTTP bool
}

func (g *httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !(g.allowLoopbackHTTP && isLoopback(req.URL.Host)) {
		return nil, fmt.Errorf("refusing plain-HTTP request to %s", req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

// isLoopback reports whether hostport names the local host by literal
// address or as localhost.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// layerMediaTypeOK reports whether a layer is a filesystem changeset banger
// can apply (gzip, zstd or uncompressed tar).
func layerMediaTypeOK(mt types.MediaType) bool {
	switch mt {
	case types.DockerLayer, types.DockerUncompressedLayer, types.OCILayer,
		types.OCIUncompressedLayer, types.OCILayerZStd, "":
		return true
	}
	return false
}
