package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/config"
)

func TestUILoginWhenTheUIIsOff(t *testing.T) {
	d := newTestDaemon(t)
	_, err := d.client.UILogin(context.Background())
	if e := apiErr(t, err); e.Kind != api.KindBadRequest || !strings.Contains(e.Message, "ui_addr") {
		t.Fatalf("UILogin with the UI off: %v", err)
	}
}

// TestUIServesTheAPIAsTheSessionsUser: the UI's API calls go through the
// daemon's own handlers, admitted as the user who asked for the login
// link: a group member sees only its own VMs, root sees all, and a user
// the policy refuses is refused through the UI too.
func TestUIServesTheAPIAsTheSessionsUser(t *testing.T) {
	d := newTestDaemon(t)
	d.create(t, api.CreateVM{Name: "roots", NoStart: true})
	d.h.Access = &access.Policy{DaemonUID: os.Geteuid(), Groups: groupsOf{1000: true}}
	dir := t.TempDir()
	cfg := &config.Config{UIAddr: "127.0.0.1:0", StateDir: dir, SSHKeyPath: filepath.Join(dir, "id")}
	stop := d.h.serveUI(context.Background(), cfg, Options{}, d.h.Log)
	defer stop()
	if d.h.UI == nil {
		t.Fatal("serveUI left the UI off")
	}
	list := func(c access.Caller) (int, []api.VM) {
		t.Helper()
		link := d.h.UI.Login(access.WithCaller(context.Background(), c)).URL
		jar, _ := cookiejar.New(nil)
		cl := &http.Client{Jar: jar}
		resp, err := cl.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = cl.Get("http://" + d.h.UI.Addr + "/api/v1/vms")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var vms []api.VM
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&vms); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, vms
	}
	if code, vms := list(access.Caller{UID: 0}); code != http.StatusOK || len(vms) != 1 || vms[0].Name != "roots" {
		t.Errorf("root through the UI: %d %+v", code, vms)
	}
	if code, vms := list(access.Caller{UID: 1000, GID: 1000}); code != http.StatusOK || len(vms) != 0 {
		t.Errorf("a group member through the UI: %d %+v, want none of root's VMs", code, vms)
	}
	if code, _ := list(access.Caller{UID: 2000, GID: 2000}); code != http.StatusForbidden {
		t.Errorf("a refused user through the UI: %d, want 403", code)
	}
}
