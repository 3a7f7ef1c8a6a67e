package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuild(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}}
	module := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v0.0.0-20261127-0123456789ab"}}
	for _, tc := range []struct {
		name    string
		version string
		commit  string
		bi      *debug.BuildInfo
		want    Info
	}{
		{"set at build time", "v1.2.3", "", vcs, Info{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, GoVersion: "go1.99.1"}},
		{"dev falls back to the module version", "dev", "", module, Info{Version: "v0.0.0-20261127-0123456789ab", GoVersion: "go1.99.1"}},
		{"no version anywhere", "", "", vcs, Info{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, GoVersion: "go1.99.1"}},
		{"no build info", "", "", nil, Info{Version: "dev", GoVersion: runtime.Version()}},
		{"commit set at build time", "v1.2.3", "fedcba98", module, Info{Version: "v1.2.3", Commit: "fedcba98", GoVersion: "go1.99.1"}},
		{"the recorded revision wins", "v1.2.3", "fedcba98", vcs, Info{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, GoVersion: "go1.99.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.OS, tc.want.Arch = runtime.GOOS, runtime.GOARCH
			if got := fromBuild(tc.version, tc.commit, tc.bi); got != tc.want {
				t.Errorf("fromBuild(%q) = %+v, want %+v", tc.version, got, tc.want)
			}
		})
	}
}
