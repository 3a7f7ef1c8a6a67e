// Package buildinfo says which build of banger is running: its version, the
// commit it was built from, and the Go toolchain and platform it was built
// with. `banger version` prints it for the CLI and, from the daemon's ping,
// for bangerd.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at build time: the Makefile passes `git
// describe` and `git rev-parse HEAD` (builds with -buildvcs=false record
// no revision of their own).
var (
	Version = "dev"
	Commit  = ""
)

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`   // the VCS revision, when the build recorded one
	Modified  bool   `json:"modified,omitempty"` // the work tree had uncommitted changes
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Read describes the running binary, whose version is version ("" or
// "dev" when the build did not set one: then the module version Go
// recorded, if any).
func Read(version string) Info {
	bi, _ := debug.ReadBuildInfo() // nil when the binary carries none
	return fromBuild(version, Commit, bi)
}

// fromBuild describes the build bi (nil: unknown) of version, from
// commit unless bi records its revision.
func fromBuild(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi == nil {
		if info.Version == "" {
			info.Version = "dev"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if (info.Version == "" || info.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
