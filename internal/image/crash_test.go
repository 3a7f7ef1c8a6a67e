package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"banger/internal/crashpoint"
	"banger/internal/image/golden"
)

// fakeBuilder "builds" an image by writing a kernel, an initrd and a
// rootfs into the spec's output dir, as the golden builder lays them out.
type fakeBuilder struct{}

func (fakeBuilder) Build(_ context.Context, spec golden.Spec, _ golden.Progress) (golden.Result, error) {
	if err := os.MkdirAll(spec.OutDir, 0o700); err != nil {
		return golden.Result{}, err
	}
	res := golden.Result{Kernel: filepath.Join(spec.OutDir, "vmlinuz"), Initrd: filepath.Join(spec.OutDir, "initrd.img"),
		Rootfs: filepath.Join(spec.OutDir, "rootfs.ext4"), KernelVersion: "6.1.0-test", RootfsBytes: 1}
	for _, f := range []string{res.Kernel, res.Initrd, res.Rootfs} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			return golden.Result{}, err
		}
	}
	return res, nil
}

// TestCrashDuringBuildLeavesNothing: a daemon that dies once a build's
// kernel and image dirs are in place, before their rows, leaves nothing
// once it starts again (the dirs no row names are removed), and the same
// build then succeeds with both rows.
func TestCrashDuringBuildLeavesNothing(t *testing.T) {
	for _, tool := range []string{"debootstrap", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("Build checks for %s first: %v", tool, err)
		}
	}
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	agent := filepath.Join(dir, "banger-agent")
	if err := os.WriteFile(agent, nil, 0o700); err != nil {
		t.Fatal(err)
	}
	newService := func() *Service {
		s := serviceIn(st, dir)
		s.Builder, s.AgentBinary = fakeBuilder{}, agent
		return s
	}
	s := newService()
	h, err := crashpoint.Parse(crashpoint.BuildPlaced)
	if err != nil {
		t.Fatal(err)
	}
	reached, end := make(chan struct{}), make(chan struct{})
	defer close(end)
	s.Crash = h.WithExit(func() { close(reached); <-end; runtime.Goexit() })
	failed := make(chan error, 1)
	go func() { _, err := s.Build(ctx, "debian-bookworm", false, nil); failed <- err }()
	select {
	case <-reached:
	case err := <-failed:
		t.Fatalf("build ended (%v) before %s", err, crashpoint.BuildPlaced)
	}

	s = newService()
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	imgs, _ := st.ListImages(ctx)
	kernels, _ := st.ListKernels(ctx)
	if len(imgs)+len(kernels) != 0 {
		t.Errorf("rows after the crash: images %v kernels %v", imgs, kernels)
	}
	for _, d := range []string{"images", "kernels", "tmp"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, d)); len(entries) != 0 {
			t.Errorf("%s/ holds %v after the crash and a restart", d, entries)
		}
	}
	img, err := s.Build(ctx, "debian-bookworm", false, nil)
	if err != nil {
		t.Fatalf("build after the crash: %v", err)
	}
	if k, err := st.GetKernel(ctx, img.KernelID); err != nil || k.Name != "debian-bookworm" {
		t.Errorf("kernel of the rebuilt image: %+v, %v", k, err)
	}
}
