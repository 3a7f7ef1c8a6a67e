package imageref

import (
	"os"
	"path/filepath"
	"testing"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"debian-bookworm":      true,
		"alpine-3.19":          true,
		"a":                    true,
		"0day":                 true,
		string(make63()):       true,
		"":                     false,
		"-lead":                false,
		".lead":                false,
		"Upper":                false,
		"under_score":          false,
		"sp ace":               false,
		"sl/ash":               false,
		string(make63()) + "x": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func make63() []byte {
	b := make([]byte, 63)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

func TestDeriveName(t *testing.T) {
	for ref, want := range map[string]string{
		"docker.io/library/alpine:3.19":      "alpine-3.19",
		"alpine":                             "alpine",
		"ghcr.io/Org/My_Image:V1.2":          "my-image-v1.2",
		"localhost:5000/foo/bar:latest":      "bar-latest",
		"debian@sha256:0123456789abcdef0123": "debian-0123456789ab",
		"/srv/images/fedora-40.tar":          "fedora-40",
		"/srv/layouts/ubuntu/":               "ubuntu",
		"/srv/x/.hidden.tar.gz":              "hidden",
		"___":                                "image",
	} {
		if got := DeriveName(ref); got != want || !ValidName(got) {
			t.Errorf("DeriveName(%q) = %q, want %q", ref, got, want)
		}
	}
}

// chdir runs the test in a directory holding a layout, an archive and a
// plain directory.
func chdir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{"layout", "plain", "sub/layout"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"layout/oci-layout", "sub/layout/oci-layout", "img.tar"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

func TestClassify(t *testing.T) {
	dir := chdir(t)
	for ref, want := range map[string]Kind{
		"layout":                     Layout,
		filepath.Join(dir, "layout"): Layout,
		"./sub/layout":               Layout,
		"img.tar":                    Archive,
		"plain":                      PlainDir,
		"/dev/null":                  Special,
		"alpine:3.19":                Remote,
		"ghcr.io/org/image:tag":      Remote,
		"debian-bookworm":            Remote,
		"./missing.tar":              Remote,
	} {
		if got := Classify(ref); got != want {
			t.Errorf("Classify(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestLocal(t *testing.T) {
	chdir(t)
	for ref, want := range map[string]bool{
		"layout":                true,  // bare word naming a layout
		"img.tar":               true,  // bare word naming a file
		"plain":                 false, // bare word naming a plain dir: a catalog name wins
		"./plain":               true,  // written as a path: the service reports the problem
		"sub/layout":            true,
		"ghcr.io/org/image:tag": false, // has a '/', but does not exist
		"alpine":                false,
		"./missing":             false,
	} {
		if got := Local(ref); got != want {
			t.Errorf("Local(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestWrittenAsPath(t *testing.T) {
	for ref, want := range map[string]bool{
		"/srv/img.tar":          true,
		"./img.tar":             true,
		"../img.tar":            true,
		"img.tar":               false,
		"ghcr.io/org/image:tag": false,
		".hidden":               false,
	} {
		if got := WrittenAsPath(ref); got != want {
			t.Errorf("WrittenAsPath(%q) = %v, want %v", ref, got, want)
		}
	}
}
