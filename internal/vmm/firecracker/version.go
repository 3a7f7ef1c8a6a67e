package firecracker

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// Supported Firecracker releases: MinVersion <= v < MaxVersion. The floor is
// 1.14.0 because Start sends the guest console to a file with PUT /serial,
// which 1.14 added (ACPI device discovery, needed by Debian's cloud kernel,
// is in 1.8). The API use was checked against the v1.16.1 spec stored in
// testdata; 2.0 may remove the legacy boot paths, so it is not assumed.
const (
	MinVersion = "1.14.0"
	MaxVersion = "2.0.0" // exclusive
	// SpecVersion is the release whose OpenAPI spec the conformance tests use.
	SpecVersion = "1.16.1"
)

var versionRE = regexp.MustCompile(`v?(\d+)\.(\d+)\.(\d+)`)

// Version runs `bin --version` and returns the version it reports, e.g.
// "1.16.1".
func Version(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("run %s --version: %w: %s", bin, err, firstLine(string(out)))
	}
	v, ok := parseVersion(string(out))
	if !ok {
		return "", fmt.Errorf("run %s --version: no version in %q", bin, firstLine(string(out)))
	}
	return v, nil
}

// parseVersion finds the first x.y.z in out ("Firecracker v1.16.1\n...").
func parseVersion(out string) (string, bool) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1] + "." + m[2] + "." + m[3], true
}

// CheckVersion reports whether v (as Version returns it, a leading "v" and a
// "-dev" style suffix are accepted) is in the supported range, and a message
// for doctor either way.
func CheckVersion(v string) (ok bool, msg string) {
	got, okv := semver(v)
	if !okv {
		return false, fmt.Sprintf("firecracker version %q is not x.y.z; banger supports %s up to (not including) %s", v, MinVersion, MaxVersion)
	}
	lo, _ := semver(MinVersion)
	hi, _ := semver(MaxVersion)
	switch {
	case less(got, lo):
		return false, fmt.Sprintf("firecracker %s is older than %s, the oldest banger supports (it needs PUT /serial); install a release from %s to below %s", v, MinVersion, MinVersion, MaxVersion)
	case !less(got, hi):
		return false, fmt.Sprintf("firecracker %s is newer than banger supports (below %s); install a %s.x release no older than %s", v, MaxVersion, "1", MinVersion)
	}
	return true, fmt.Sprintf("firecracker %s (supported: %s to below %s)", v, MinVersion, MaxVersion)
}

func semver(v string) ([3]int, bool) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return [3]int{}, false
	}
	var r [3]int
	for i := range r {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return [3]int{}, false
		}
		r[i] = n
	}
	return r, true
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
