package config

import "testing"

// TestSourcesAccepted: the default mirror is HTTPS; a plain-http mirror a
// user sets is still accepted (debootstrap checks the archive's
// signatures); a catalog is accepted over HTTPS, or over http only from a
// loopback address.
func TestSourcesAccepted(t *testing.T) {
	if DefaultDebianMirror != "https://deb.debian.org/debian" {
		t.Errorf("default debian_mirror %q, want HTTPS", DefaultDebianMirror)
	}
	for _, tt := range []struct{ mirror, catalog string }{
		{"http://deb.debian.org/debian", ""},
		{"https://mirror.example.org/debian", "https://images.example.org/banger/catalog.json"},
		{DefaultDebianMirror, "http://127.0.0.1:8080/catalog.json"},
		{DefaultDebianMirror, "http://[::1]:8080/catalog.json"},
	} {
		c, err := Defaults(Host{EUID: 0}, testRegistry(t))
		if err != nil {
			t.Fatal(err)
		}
		c.DebianMirror, c.CatalogURL = tt.mirror, tt.catalog
		if err := c.Validate(testRegistry(t)); err != nil {
			t.Errorf("debian_mirror %q, catalog_url %q: %v", tt.mirror, tt.catalog, err)
		}
	}
}
