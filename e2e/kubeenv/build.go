// Package kubeenv runs a real Kubernetes control plane for the end-to-end
// tests: etcd, kube-apiserver and kube-scheduler, built from the module in
// e2e/kubecp and started on 127.0.0.1, optionally inside a network
// namespace. There is no kube-controller-manager and no kubelet: RegisterNode
// and EnsureNamespace do by hand the little of their work the tests need.
//
// Host needs: go (first build, about 4 minutes on 2 cores, then cached),
// ip (iproute2) when a namespace is given, and about 400 MB of memory.
package kubeenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"banger/internal/poll"
)

// components are the binaries e2e/kubecp builds, one main package each.
func components() []string { return []string{"etcd", "kube-apiserver", "kube-scheduler"} }

// Binaries returns a directory holding the control plane's binaries, built
// from srcDir (the e2e/kubecp module) into cacheDir/kube-<key>, where key is
// a hash of the module's go.mod, go.sum and Go files. A directory already
// there is reused. Build output goes to log.
func Binaries(ctx context.Context, cacheDir, srcDir string, log io.Writer) (string, error) {
	key, err := sourceKey(srcDir)
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(cacheDir, "kube-"+key[:16])
	if haveAll(binDir) {
		return binDir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	// One build at a time (test packages run in parallel): the others
	// wait for it and reuse what it made.
	unlock, err := lockFile(ctx, binDir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if haveAll(binDir) {
		return binDir, nil
	}
	tmp, err := os.MkdirTemp(cacheDir, ".kube-build-")
	if err != nil {
		return "", fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := build(ctx, srcDir, tmp, log); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "kubeenv: built the control plane in %s\n", time.Since(start).Round(time.Second))
	if err := os.Rename(tmp, binDir); err != nil && !haveAll(binDir) {
		return "", fmt.Errorf("install binaries: %w", err)
	}
	return binDir, nil
}

// build runs one `go build` for all the components, into dir.
func build(ctx context.Context, srcDir, dir string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, c := range components() {
		args = append(args, "./"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = srcDir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build in %s: %w", srcDir, err)
	}
	if !haveAll(dir) {
		return fmt.Errorf("go build in %s: binaries missing from %s", srcDir, dir)
	}
	return nil
}

// haveAll says whether dir holds every component.
func haveAll(dir string) bool {
	for _, c := range components() {
		if fi, err := os.Stat(filepath.Join(dir, c)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// sourceKey hashes what decides the binaries: the module's go.mod, go.sum
// and Go files (with their paths), and the target platform.
func sourceKey(srcDir string) (string, error) {
	var files []string
	err := filepath.WalkDir(srcDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if !d.IsDir() && (name == "go.mod" || name == "go.sum" || strings.HasSuffix(name, ".go")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", srcDir, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no Go module in %s", srcDir)
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("hash sources: %w", err)
		}
		rel, _ := filepath.Rel(srcDir, p)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open build lock: %w", err)
	}
	err = poll.Until(ctx, time.Second, nil, func(context.Context) (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wait for the build lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
