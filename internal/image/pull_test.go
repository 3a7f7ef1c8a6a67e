package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/image/catalog"
	"banger/internal/image/imagetest"
	"banger/internal/image/oci"
	"banger/internal/image/oci/ocitest"
	"banger/internal/progress"
	"banger/internal/store"
)

// newTestService is a Service over a real store in a temp state dir.
func newTestService(t *testing.T) *Service {
	t.Helper()
	state := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(state, "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	agent := filepath.Join(state, "banger-agent")
	if err := os.WriteFile(agent, []byte("#!agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Service{
		Store:       st,
		ImagesDir:   filepath.Join(state, "images"),
		KernelsDir:  filepath.Join(state, "kernels"),
		CacheDir:    filepath.Join(state, "cache", "debootstrap"),
		TmpDir:      filepath.Join(state, "tmp"),
		AgentBinary: agent,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (%v), want it gone", p, err)
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("%s not empty: %v", dir, ents)
	}
}

func TestRegisterPromoteDelete(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	u := newUserFiles(t)
	rootfs, kernel, initrd := u.rootfs, u.kernel, u.initrd
	src := filepath.Dir(rootfs)
	notExt4 := imagetest.WriteFile(t, filepath.Join(src, "plain"), make([]byte, 4096))

	for name, req := range map[string]RegisterRequest{
		"relative rootfs":   {Name: "x", Rootfs: "my.ext4", Kernel: kernel},
		"not ext4":          {Name: "x", Rootfs: notExt4, Kernel: kernel},
		"directory":         {Name: "x", Rootfs: src, Kernel: kernel},
		"no kernel":         {Name: "x", Rootfs: rootfs},
		"both kernels":      {Name: "x", Rootfs: rootfs, Kernel: kernel, KernelRef: "k"},
		"initrd without":    {Name: "x", Rootfs: rootfs, KernelRef: "k", Initrd: initrd},
		"kernel not kernel": {Name: "x", Rootfs: rootfs, Kernel: notExt4},
		"bad name":          {Name: "Bad_Name", Rootfs: rootfs, Kernel: kernel},
		"initrd is a dir":   {Name: "x", Rootfs: rootfs, Kernel: kernel, Initrd: src},
	} {
		if _, err := s.Register(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Register = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Register(ctx, RegisterRequest{Name: "x", Rootfs: rootfs, KernelRef: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown --kernel-ref: %v, want ErrNotFound", err)
	}
	emptyDir(t, s.ImagesDir)
	emptyDir(t, s.KernelsDir)

	// Registering copies the files into banger's storage.
	img, err := s.Register(ctx, RegisterRequest{Name: "mine", Rootfs: rootfs, Kernel: kernel, Initrd: initrd})
	if err != nil {
		t.Fatal(err)
	}
	wantRootfs := filepath.Join(s.ImagesDir, "mine", "rootfs.ext4")
	if !img.Managed || img.Rootfs != wantRootfs || img.Source != rootfs || img.SizeBytes != 4<<20 {
		t.Errorf("registered image = %+v", img)
	}
	if got, _ := os.ReadFile(wantRootfs); !bytes.Equal(got, imagetest.Ext4()) {
		t.Error("registered rootfs differs from the original")
	}
	if st := statOf(t, wantRootfs); st.blocks*512 >= 4<<20 {
		t.Errorf("registered rootfs not sparse: %d blocks", st.blocks)
	}
	k, err := s.Store.GetKernel(ctx, "mine-kernel")
	if err != nil {
		t.Fatal(err)
	}
	if !k.Managed || k.Path != filepath.Join(s.KernelsDir, "mine-kernel", "vmlinuz") ||
		k.Initrd != filepath.Join(s.KernelsDir, "mine-kernel", "initrd.img") || k.Version != "6.1.0-test" || img.KernelID != k.ID {
		t.Errorf("registered kernel = %+v (image kernel %s)", k, img.KernelID)
	}
	if got, _ := os.ReadFile(k.Initrd); string(got) != "initrd" {
		t.Errorf("registered initrd = %q", got)
	}
	emptyDir(t, s.TmpDir)
	if _, err := s.Register(ctx, RegisterRequest{Name: "mine", Rootfs: rootfs, KernelRef: "mine-kernel"}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("duplicate Register = %v, want ErrAlreadyExists", err)
	}
	// A kernel of the name <name>-kernel is never replaced.
	if _, err := s.Register(ctx, RegisterRequest{Name: "mine2", Rootfs: rootfs, Kernel: kernel}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.DeleteImage(ctx, mustImage(t, s, "mine2").ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, RegisterRequest{Name: "mine2", Rootfs: rootfs, Kernel: kernel}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("Register over an existing kernel = %v, want ErrAlreadyExists", err)
	}
	if _, err := os.Stat(filepath.Join(s.KernelsDir, "mine2-kernel", "vmlinuz")); err != nil {
		t.Errorf("the existing kernel's files: %v", err)
	}
	if _, err := s.Promote(ctx, "mine", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("promote of a registered image = %v, want ErrInvalid (already in banger's storage)", err)
	}

	// The kernel cannot go while the image uses it.
	err = s.DeleteKernel(ctx, "mine-kernel")
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "image mine") {
		t.Errorf("kernel rm in use = %v, want ErrInUse naming image mine", err)
	}

	// Delete removes banger's copies and the now unused kernel, never the originals.
	if err := s.Delete(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(s.ImagesDir, "mine"))
	mustNotExist(t, filepath.Join(s.KernelsDir, "mine-kernel"))
	for _, p := range []string{rootfs, kernel, initrd} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("original %s: %v", p, err)
		}
	}
	if _, err := s.Store.GetKernel(ctx, "mine-kernel"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("kernel after image delete: %v", err)
	}

	// A registered image using an existing kernel; kernel rm after the image is gone.
	if _, err := s.Register(ctx, RegisterRequest{Name: "base", Rootfs: rootfs, Kernel: kernel}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, RegisterRequest{Name: "other", Rootfs: rootfs, KernelRef: "base-kernel"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "base"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKernel(ctx, "base-kernel"); !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "image other") {
		t.Errorf("kernel rm = %v, want ErrInUse naming image other", err)
	}
}

func mustImage(t *testing.T, s *Service, name string) store.Image {
	t.Helper()
	img, err := s.Store.GetImage(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPromoteInPlace promotes an image an older banger registered in place.
func TestPromoteInPlace(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	u := newUserFiles(t)
	rootfs, kernel, initrd := u.rootfs, u.kernel, u.initrd
	img, _ := registerInPlace(t, s, "mine", rootfs, kernel, initrd)

	// A VM on the image blocks promotion and deletion, and is named.
	vm, err := s.Store.CreateVM(ctx, store.VM{Name: "devbox", ImageID: img.ID, VCPUs: 1, MemoryMiB: 512, State: "stopped"})
	if err != nil {
		t.Fatal(err)
	}
	for op, f := range map[string]func() error{
		"promote": func() error { _, err := s.Promote(ctx, "mine", nil); return err },
		"delete":  func() error { return s.Delete(ctx, "mine") },
	} {
		if err := f(); !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "VM devbox") {
			t.Errorf("%s with a VM = %v, want ErrInUse naming VM devbox", op, err)
		}
	}
	if err := s.Store.DeleteVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}

	var events []progress.Event
	img, err = s.Promote(ctx, "mine", func(e progress.Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	wantRootfs := filepath.Join(s.ImagesDir, "mine", "rootfs.ext4")
	if !img.Managed || img.Rootfs != wantRootfs {
		t.Errorf("promoted image = %+v", img)
	}
	if got, _ := os.ReadFile(wantRootfs); !bytes.Equal(got, imagetest.Ext4()) {
		t.Error("promoted rootfs differs from the original")
	}
	if st := statOf(t, wantRootfs); st.blocks*512 >= 4<<20 {
		t.Errorf("promoted rootfs not sparse: %d blocks", st.blocks)
	}
	k, _ := s.Store.GetKernel(ctx, "mine-kernel")
	if !k.Managed || k.Path != filepath.Join(s.KernelsDir, "mine-kernel", "vmlinuz") ||
		k.Initrd != filepath.Join(s.KernelsDir, "mine-kernel", "initrd.img") {
		t.Errorf("promoted kernel = %+v", k)
	}
	if got, _ := os.ReadFile(k.Initrd); string(got) != "initrd" {
		t.Errorf("promoted initrd = %q", got)
	}
	if len(events) == 0 || events[len(events)-1].Done != events[len(events)-1].Total {
		t.Errorf("promote progress = %+v", events)
	}
	if _, err := s.Promote(ctx, "mine", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("second promote = %v, want ErrInvalid", err)
	}
	emptyDir(t, s.TmpDir)
	if err := s.Delete(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{rootfs, kernel, initrd} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("original %s: %v", p, err)
		}
	}
}

type fileStat struct{ blocks int64 }

func statOf(t *testing.T, p string) fileStat {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fileStat{blocks: diskBytes(fi) / 512}
}

func TestImportKernel(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	from := t.TempDir()
	imagetest.WriteFile(t, filepath.Join(from, "bzImage"), imagetest.BzImage("6.6.1-custom"))
	imagetest.WriteFile(t, filepath.Join(from, "initrd.img"), []byte("initrd"))
	imagetest.WriteFile(t, filepath.Join(from, "modules", "6.6.1-custom", "kernel", "virtio.ko"), []byte("ko"))
	if err := os.Symlink("/usr/src/linux", filepath.Join(from, "modules", "6.6.1-custom", "build")); err != nil {
		t.Fatal(err)
	}
	k, err := s.ImportKernel(ctx, "custom", from)
	if err != nil {
		t.Fatal(err)
	}
	kdir := filepath.Join(s.KernelsDir, "custom")
	if !k.Managed || k.Path != filepath.Join(kdir, "vmlinuz") || k.Initrd != filepath.Join(kdir, "initrd.img") || k.Version != "6.6.1-custom" {
		t.Errorf("imported kernel = %+v", k)
	}
	if got, _ := os.ReadFile(filepath.Join(kdir, "modules", "6.6.1-custom", "kernel", "virtio.ko")); string(got) != "ko" {
		t.Errorf("module = %q", got)
	}
	if l, err := os.Readlink(filepath.Join(kdir, "modules", "6.6.1-custom", "build")); err != nil || l != "/usr/src/linux" {
		t.Errorf("symlink = %q, %v", l, err)
	}
	emptyDir(t, s.TmpDir)
	if _, err := s.ImportKernel(ctx, "custom", from); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("second import = %v, want ErrAlreadyExists", err)
	}

	two := t.TempDir()
	imagetest.WriteFile(t, filepath.Join(two, "vmlinux"), imagetest.Vmlinux())
	imagetest.WriteFile(t, filepath.Join(two, "vmlinuz"), imagetest.BzImage("1"))
	bad := t.TempDir()
	imagetest.WriteFile(t, filepath.Join(bad, "vmlinux"), []byte("not a kernel at all"))
	for name, dir := range map[string]string{"two kernels": two, "not a kernel": bad, "relative": "kernels", "none": t.TempDir()} {
		if _, err := s.ImportKernel(ctx, "k-"+strings.ReplaceAll(name, " ", "-"), dir); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ImportKernel = %v, want ErrInvalid", name, err)
		}
	}
	emptyDir(t, s.TmpDir)

	if err := s.DeleteKernel(ctx, "custom"); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, kdir)
}

// catalogServer serves catalog.json and the bundles in dir on loopback,
// counting requests per path. Requests for a path in hold wait for release.
type catalogServer struct {
	*httptest.Server
	mu      sync.Mutex
	hits    map[string]int
	hold    string
	started chan struct{}
	release chan struct{}
}

func newCatalogServer(t *testing.T, dir string) *catalogServer {
	t.Helper()
	cs := &catalogServer{hits: map[string]int{}, started: make(chan struct{}, 10), release: make(chan struct{})}
	files := http.FileServer(http.Dir(dir))
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		cs.hits[r.URL.Path]++
		hold := cs.hold != "" && r.URL.Path == cs.hold
		cs.mu.Unlock()
		if hold {
			cs.started <- struct{}{}
			<-cs.release
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(cs.Close)
	if !strings.HasPrefix(cs.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", cs.URL)
	}
	return cs
}

func (cs *catalogServer) count(p string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.hits[p]
}

func TestCatalogPull(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	dir := t.TempDir()
	imgEntry, kernEntry := imagetest.Publish(t, dir, imagetest.Catalog{Image: "tiny", Kernel: "test-kernel", KernelVersion: "6.1.0-test", Initrd: true})
	cs := newCatalogServer(t, dir)
	s.CatalogURL = cs.URL + "/catalog.json"
	imgPath, kernPath := "/"+imgEntry.BundleURL, "/"+kernEntry.BundleURL
	cs.hold = imgPath

	// Two concurrent pulls of the same image share one operation and one download.
	type result struct {
		img    store.Image
		err    error
		events []progress.Event
	}
	var wg sync.WaitGroup
	results := make([]result, 2)
	joined := make(chan struct{})
	var joinedOnce sync.Once
	pull := func(i int) {
		defer wg.Done()
		var mu sync.Mutex
		results[i].img, results[i].err = s.Pull(ctx, PullRequest{Ref: "tiny"}, func(e progress.Event) {
			mu.Lock()
			results[i].events = append(results[i].events, e)
			mu.Unlock()
			if strings.Contains(e.Message, "waiting for the pull of tiny") {
				joinedOnce.Do(func() { close(joined) })
			}
		})
	}
	wg.Add(1)
	go pull(0)
	select {
	case <-cs.started:
	case <-time.After(10 * time.Second):
		t.Fatal("first pull never requested the image bundle")
	}
	wg.Add(1)
	go pull(1)
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("second pull did not join the first")
	}
	close(cs.release)
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("pull %d: %v", i, r.err)
		}
	}
	if results[0].img.ID != results[1].img.ID {
		t.Errorf("pulls returned different images: %+v / %+v", results[0].img, results[1].img)
	}
	if n := cs.count(imgPath); n != 1 {
		t.Errorf("image bundle downloaded %d times, want 1", n)
	}
	if n := cs.count(kernPath); n != 1 {
		t.Errorf("kernel bundle downloaded %d times, want 1", n)
	}
	// Both callers saw the download's progress, ending at 100%.
	for i, r := range results {
		var last progress.Event
		for _, e := range r.events {
			if strings.HasPrefix(e.Step, "download image tiny") && e.Total > 0 {
				last = e
			}
		}
		if last.Total != imgEntry.SizeBytes || last.Done != last.Total {
			t.Errorf("pull %d: last download progress %+v, want %d/%d (events %+v)", i, last, imgEntry.SizeBytes, imgEntry.SizeBytes, r.events)
		}
	}

	img := results[0].img
	k, err := s.Store.GetKernel(ctx, "test-kernel")
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "tiny" || img.KernelID != k.ID || !img.Managed || img.Source != "catalog:tiny" ||
		img.Rootfs != filepath.Join(s.ImagesDir, "tiny", "rootfs.ext4") || img.SizeBytes != 4<<20 || img.Init != "" {
		t.Errorf("pulled image = %+v", img)
	}
	if !k.Managed || k.Version != "6.1.0-test" || k.Path != filepath.Join(s.KernelsDir, "test-kernel", "vmlinux") ||
		k.Initrd != filepath.Join(s.KernelsDir, "test-kernel", "initrd.img") {
		t.Errorf("pulled kernel = %+v", k)
	}
	if got, _ := os.ReadFile(img.Rootfs); !bytes.Equal(got, imagetest.Ext4()) {
		t.Error("pulled rootfs differs from the published one")
	}
	emptyDir(t, s.TmpDir)

	// Pulling again is a no-op; the same name from elsewhere is refused.
	again, err := s.Pull(ctx, PullRequest{Ref: "tiny"}, nil)
	if err != nil || again.ID != img.ID || cs.count(imgPath) != 1 {
		t.Errorf("second pull = %+v, %v (%d downloads)", again, err, cs.count(imgPath))
	}
	if _, err := s.Pull(ctx, PullRequest{Ref: "tiny", SizeBytes: 1 << 30}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("--size on a catalog image = %v, want ErrInvalid", err)
	}
	if _, err := s.PullKernel(ctx, "no-such-kernel", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PullKernel unknown = %v, want ErrNotFound", err)
	}

	// Pull under another name reuses the cached bundle.
	other, err := s.Pull(ctx, PullRequest{Ref: "tiny", Name: "tiny2"}, nil)
	if err != nil || other.Name != "tiny2" || cs.count(imgPath) != 1 {
		t.Errorf("pull as tiny2 = %+v, %v (%d downloads)", other, err, cs.count(imgPath))
	}

	// Bundle the pulled image back: same rootfs, catalog stanza next to it.
	out := t.TempDir()
	br, err := s.BundleImage(ctx, "tiny", out)
	if err != nil {
		t.Fatal(err)
	}
	var stanza catalog.Image
	data, err := os.ReadFile(br.EntryFile)
	if err != nil || json.Unmarshal(data, &stanza) != nil {
		t.Fatalf("entry file %s: %v %s", br.EntryFile, err, data)
	}
	if stanza.Name != "tiny" || stanza.KernelRef != "test-kernel" || stanza.BundleSHA256 != br.Entry.BundleSHA256 ||
		stanza.BundleURL != filepath.Base(br.File) {
		t.Errorf("stanza = %+v, result %+v", stanza, br)
	}
	kb, err := s.BundleKernel(ctx, "test-kernel", out)
	if err != nil {
		t.Fatal(err)
	}
	if kb.Entry.BundleSHA256 != kernEntry.BundleSHA256 {
		// Same files, manifest timestamps differ: only check it unpacks.
		if _, err := catalog.Unpack(kb.File, filepath.Join(t.TempDir(), "k")); err != nil {
			t.Errorf("kernel bundle does not unpack: %v", err)
		}
	}
	if _, err := s.BundleImage(ctx, "tiny", "relative/dir"); !errors.Is(err, ErrInvalid) {
		t.Errorf("relative --out = %v, want ErrInvalid", err)
	}

	// Cache prune: dry run lists both bundles, then they go.
	rep, err := s.PruneCache(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 2 || rep.Bytes <= 0 {
		t.Errorf("dry run = %+v, want the two bundles", rep)
	}
	for _, f := range rep.Files {
		if _, err := os.Stat(f.Path); err != nil {
			t.Errorf("dry run removed %s", f.Path)
		}
	}
	if rep2, err := s.PruneCache(ctx, false); err != nil || len(rep2.Files) != 2 {
		t.Errorf("prune = %+v, %v", rep2, err)
	}
	emptyDir(t, s.bundleCacheDir())
	if rep3, _ := s.PruneCache(ctx, true); len(rep3.Files) != 0 {
		t.Errorf("after prune: %+v", rep3)
	}
	// A prune while a pull holds the cache is refused.
	s.cacheMu.RLock()
	if _, err := s.PruneCache(ctx, false); !errors.Is(err, store.ErrInUse) {
		t.Errorf("prune during pull = %v, want ErrInUse", err)
	}
	s.cacheMu.RUnlock()
}

func TestCatalogUnreachableFallsBack(t *testing.T) {
	s := newTestService(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	s.CatalogURL = srv.URL + "/catalog.json"
	c, err := s.Catalog(context.Background())
	var w *CatalogWarning
	if !errors.As(err, &w) || c.Version != 1 {
		t.Errorf("Catalog = %+v, %v; want the embedded catalog and a warning", c, err)
	}
}

func needRootAndMkfs(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("OCI import needs root: layer ownership is applied with lchown")
	}
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("OCI import needs %s (e2fsprogs): %v", tool, err)
		}
	}
}

func TestOCIPull(t *testing.T) {
	needRootAndMkfs(t)
	ctx := context.Background()
	s := newTestService(t)
	lp := ocitest.Layout(t, "alpine-mini", ocitest.Image(t, "amd64", ocitest.FilesLayer(t, map[string]string{
		"bin/sh": "#!fake shell\n", "etc/os-release": "ID=alpine\n", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
	}, "bin", "etc")))

	if _, err := s.Pull(ctx, PullRequest{Ref: lp + "-typo", Kernel: "k"}, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("pull of a missing path = %v, want ErrInvalid naming the missing file", err)
	}
	// No default image and no kernel: a clear error before any work.
	if _, err := s.Pull(ctx, PullRequest{Ref: lp}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("pull without a kernel = %v, want ErrInvalid", err)
	}
	kpath := imagetest.WriteFile(t, filepath.Join(t.TempDir(), "vmlinuz"), imagetest.BzImage("6.1.0-test"))
	k, err := s.Store.CreateKernel(ctx, store.Kernel{Name: "k", Path: kpath})
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	got, err := s.Pull(ctx, PullRequest{Ref: lp, Kernel: "k", SizeBytes: 64 << 20}, func(e progress.Event) {
		steps = append(steps, e.Step)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "alpine-mini" || got.KernelID != k.ID || got.Source != lp || !got.Managed ||
		got.Init != oci.AgentInit || got.SizeBytes != 64<<20 || got.Rootfs != filepath.Join(s.ImagesDir, "alpine-mini", "rootfs.ext4") {
		t.Errorf("pulled image = %+v", got)
	}
	out, err := exec.Command("debugfs", "-R", "cat "+oci.InitRecord, got.Rootfs).Output()
	if err != nil || string(out) != oci.AgentInit+"\n" {
		t.Errorf("rootfs does not record the agent as its init: %v %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(s.ImagesDir, "alpine-mini", "manifest.json")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(strings.Join(steps, ","), "pull alpine-mini: mkfs") {
		t.Errorf("progress steps = %v", steps)
	}
	emptyDir(t, s.TmpDir)

	// The layer is cached until pruned.
	rep, err := s.PruneCache(ctx, false)
	if err != nil || len(rep.Files) != 1 || !strings.Contains(rep.Files[0].Path, filepath.Join("oci", "sha256")) {
		t.Errorf("prune = %+v, %v; want the one cached layer", rep, err)
	}

	// A bundle of the imported image keeps booting the agent as PID 1
	// after a catalog pull (the init is recorded in the rootfs).
	dir := t.TempDir()
	br, err := s.BundleImage(ctx, "alpine-mini", dir)
	if err != nil {
		t.Fatal(err)
	}
	if br.Entry.KernelRef != "k" {
		t.Errorf("bundle kernel_ref = %q, want k", br.Entry.KernelRef)
	}
	data, _ := json.Marshal(catalog.Catalog{Version: 1, Images: []catalog.Image{br.Entry.Image()}})
	imagetest.WriteFile(t, filepath.Join(dir, "catalog.json"), data)
	cs := newCatalogServer(t, dir)
	s.CatalogURL = cs.URL + "/catalog.json"
	copied, err := s.Pull(ctx, PullRequest{Ref: "alpine-mini", Name: "alpine-copy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if copied.Init != oci.AgentInit || copied.KernelID != k.ID || copied.Source != "catalog:alpine-mini" {
		t.Errorf("catalog copy = %+v", copied)
	}
	if err := os.Remove(kpath); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BundleKernel(ctx, "k", dir); err == nil {
		t.Error("bundle of a kernel whose file is missing succeeded")
	}
}
