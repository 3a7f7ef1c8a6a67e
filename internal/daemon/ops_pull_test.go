package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/image/imagetest"
	"banger/internal/store"
)

// serveStalledCatalog is serveCatalog whose image bundle stops half-way
// until the request ends, so that a pull stays in its download.
func serveStalledCatalog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	img, _ := imagetest.Publish(t, dir, imagetest.Catalog{Image: "tiny", Kernel: "tk", KernelVersion: "6.1-test"})
	bundle := filepath.Base(img.BundleURL)
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if filepath.Base(r.URL.Path) != bundle {
			files.ServeHTTP(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, bundle))
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/catalog.json"
}

// TestCancelPullLeavesNothing: `ops cancel` of a pull in its download
// removes what it had fetched: no image row, no image files, nothing in
// the staging directory.
func TestCancelPullLeavesNothing(t *testing.T) {
	ctx := context.Background()
	d := newImageDaemon(t)
	d.images.CatalogURL = serveStalledCatalog(t)
	opc, errc := make(chan api.Operation, 1), make(chan error, 1)
	go func() {
		var named api.Operation
		_, err := d.client.PullImage(ctx, api.PullImage{Ref: "tiny"}, func(ev api.Event) {
			if op, ok := api.OperationOf(ev); ok {
				named = op
			}
			if ev.Type == "progress" && strings.HasPrefix(ev.Step, "download image tiny") && ev.Done > 0 && named.ID != "" {
				opc <- named
				named = api.Operation{}
			}
		})
		errc <- err
	}()
	var op api.Operation
	select {
	case op = <-opc:
	case err := <-errc:
		t.Fatalf("the pull ended before naming its operation: %v", err)
	}
	if op.Kind != "image pull" || op.Target != "tiny" {
		t.Errorf("operation %+v", op)
	}
	rec, err := d.client.CancelOperation(ctx, op.ID)
	if err != nil || rec.State != api.OpCancelled {
		t.Fatalf("cancel = %+v, %v", rec, err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the cancelled pull succeeded")
	}
	if _, err := d.env.Store.GetImage(ctx, "tiny"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("image row after cancel: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.images.ImagesDir, "tiny")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("image dir after cancel: %v", err)
	}
	if ents, _ := os.ReadDir(d.images.TmpDir); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("staging dir after cancel holds %s", strings.Join(names, ", "))
	}
}
