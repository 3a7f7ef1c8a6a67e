package daemon

import (
	"runtime"
	"testing"

	"banger/internal/api"
)

// The ping tells `banger version` which build the daemon is.
func TestPingReportsBuild(t *testing.T) {
	d := newTestDaemon(t)
	p, err := d.client.Ping(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "test" || p.APIVersion != api.Version || p.GoVersion != runtime.Version() ||
		p.OS != runtime.GOOS || p.Arch != runtime.GOARCH {
		t.Errorf("ping = %+v, want version test, API %s, %s %s/%s", p, api.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}
