// Package daemon is bangerd's composition root: it wires the services
// together and serves the API on a unix socket.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/access"
	"banger/internal/buildinfo"
	"banger/internal/config"
	"banger/internal/crashpoint"
	"banger/internal/disk"
	"banger/internal/dns"
	"banger/internal/forward"
	"banger/internal/image"
	"banger/internal/image/golden"
	"banger/internal/logcap"
	"banger/internal/network"
	"banger/internal/operation"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vmm"
)

// Options are what the daemon needs besides its config.
type Options struct {
	// AgentBinary is the static guest agent installed into built images.
	AgentBinary string
	// Backends are the VMM backends the daemon offers (see vmm/builtin).
	Backends *vmm.Registry
	// CrashAt is the test-only crash step (BANGER_CRASH_AT, see
	// internal/crashpoint); empty in normal use.
	CrashAt string
}

// bangerd.log is capped at LogMax and rotated into LogKeep generations
// (bangerd.log.1 is the newest), so that it cannot fill the state disk.
const (
	LogMax  = 16 << 20
	LogKeep = 3
)

// Run serves until ctx ends or a client asks for shutdown. Running VMs are
// left running.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", cfg.StateDir, err)
	}
	groups := access.SystemGroups{}
	if err := prepareRuntimeDir(cfg.RuntimeDir, groups); err != nil {
		return fmt.Errorf("runtime_dir: %w", err)
	}
	logFile, err := logcap.Create(cfg.LogPath(), logcap.Options{Max: LogMax, Keep: LogKeep})
	if err != nil {
		return fmt.Errorf("open log %s: %w", cfg.LogPath(), err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: parseLevel(cfg.LogLevel)}))

	ln, err := listen(cfg.SocketPath(), groups)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.SocketPath())
	pidPath := filepath.Join(cfg.RuntimeDir, "bangerd.pid")
	_ = os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	defer os.Remove(pidPath)

	st, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		ln.Close()
		return err
	}
	defer st.Close()

	svc, err := wire(ctx, cfg, opts, st, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer svc.VMs.Close() // stops watching the VMs; they keep running
	if err := svc.Images.Reconcile(ctx); err != nil {
		log.Warn("reconcile images", "err", err)
	}
	if err := svc.VMs.Reconcile(ctx); err != nil {
		log.Warn("reconcile", "err", err)
	}
	svc.VMs.WatchLifetimes()
	nm := &names{vms: svc.VMs, log: log, sshPath: cfg.SSHConfigPath(), proxy: cliProxy(cfg.SocketPath()), run: dns.Exec}
	nm.startDNS(ctx, cfg.DNSAddr)
	if nm.srv != nil {
		defer nm.srv.Close()
	}
	defer svc.VMs.Subscribe(nm.handle).Close()
	defer svc.VMs.Subscribe(lifetimeOps(context.WithoutCancel(ctx), svc.Ops, log)).Close()
	nm.writeSSHConfig(ctx)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &Handlers{VMs: svc.VMs, Images: svc.Images, Ops: svc.Ops, Log: log, Socket: cfg.SocketPath(), Version: buildinfo.Version, Shutdown: cancel,
		Access: &access.Policy{DaemonUID: os.Geteuid(), Groups: groups}, ops: &ops{}}
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	defer h.serveUI(ctx, cfg, opts, log)()
	srv := &http.Server{Handler: h.Routes(), ReadHeaderTimeout: 10 * time.Second, ConnContext: connContext,
		BaseContext: func(net.Listener) context.Context { return reqCtx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("bangerd started", "pid", os.Getpid(), "socket", cfg.SocketPath(), "version", buildinfo.Version,
		"backend", svc.VMs.Backend, "state_dir", cfg.StateDir)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("bangerd stopping; draining operations in flight; VMs keep running", "bound", DrainTimeout.String())
	if !h.shutdown(srv, cancelReqs, DrainTimeout, DrainGrace) {
		log.Warn("operations still in flight after the drain bound were cancelled")
	}
	return nil
}

// listen opens the API socket with mode 0600 (0660 and group banger when
// that group exists), replacing a stale socket but refusing to run beside
// a live daemon. Its directory was checked by prepareRuntimeDir.
func listen(path string, groups access.GroupDB) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another bangerd is already listening on %s", path)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := permitSocket(path, groups); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

type services struct {
	VMs    *vm.Service
	Images *image.Service
	Ops    *operation.Service
}

func wire(ctx context.Context, cfg *config.Config, opts Options, st *store.Store, log *slog.Logger) (*services, error) {
	pool, err := network.ParsePool(cfg.CIDR)
	if err != nil {
		return nil, err
	}
	stopTimeout, err := cfg.StopTimeoutDuration()
	if err != nil {
		return nil, err
	}
	bootTimeout, err := cfg.BootTimeoutDuration()
	if err != nil {
		return nil, err
	}
	consoleMax, err := cfg.ConsoleLogBytes()
	if err != nil {
		return nil, err
	}
	backends, chosen, err := Backends(ctx, cfg, opts.Backends, log)
	if err != nil {
		return nil, err
	}
	images := imageService(cfg, opts, st, log)
	crash, err := crashHook(opts.CrashAt, log)
	if err != nil {
		return nil, err
	}
	images.Crash = crash
	vms := &vm.Service{
		Store:        st,
		Images:       images,
		Backends:     backends,
		Backend:      chosen,
		Disks:        &disk.Maker{},
		VMsDir:       cfg.VMsDir(),
		RuntimeDir:   filepath.Join(cfg.RuntimeDir, "vms"),
		DefaultImage: cfg.DefaultImage,
		Defaults: vmDefaults(ctx, cfg,
			opts.Backends, chosen, log),
		Forwards:    &forward.Manager{Log: log},
		StopTimeout: stopTimeout,
		ConsoleMax:  consoleMax,
		NATDefault:  cfg.NATDefault,
		Log:         log,
		Net: &vm.HostNet{
			Links:     network.Links{},
			NAT:       &network.NAT{},
			Pool:      pool,
			Bridge:    cfg.BridgeName,
			TapPrefix: network.TapPrefix,
			TapName:   network.TapName,
			MACFor:    network.MACFor,
			Firewall:  &network.Firewall{},
			Log:       log,
		},
		Guest: &vm.Guest{
			KeyPath:     cfg.SSHKeyPath,
			KnownHosts:  &sshkey.KnownHosts{Path: cfg.KnownHostsPath()},
			FileSync:    fileSync(cfg),
			BootTimeout: bootTimeout,
			Log:         log,
		},
	}
	vms.Crash = crash
	vms.Templates = &vm.Templates{Dir: filepath.Join(cfg.StateDir, "templates")}
	vms.AutoWarm = cfg.WarmOnFirstUse()
	if vms.Lifetimes, err = lifetimes(cfg); err != nil {
		return nil, err
	}
	images.DeleteSnapshots = vms.Templates.DeleteImage
	ops, err := operations(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	return &services{VMs: vms, Images: images, Ops: ops}, nil
}

// imageService is the image service of the daemon configured by cfg.
func imageService(cfg *config.Config, opts Options, st *store.Store, log *slog.Logger) *image.Service {
	return &image.Service{
		Store:       st,
		Builder:     &golden.Builder{Log: &logWriter{log: log}},
		ImagesDir:   cfg.ImagesDir(),
		KernelsDir:  cfg.KernelsDir(),
		CacheDir:    filepath.Join(cfg.CacheDir(), "debootstrap"),
		TmpDir:      filepath.Join(cfg.StateDir, "tmp"),
		AgentBinary: opts.AgentBinary,
		Mirror:      cfg.DebianMirror,
		Log:         log,

		DefaultImage:   cfg.DefaultImage,
		CatalogURL:     cfg.CatalogURL,
		OCICacheDir:    filepath.Join(cfg.CacheDir(), "oci"),
		BundleCacheDir: filepath.Join(cfg.CacheDir(), "bundles"),
	}
}

// crashHook is the test-only crash hook at step (see internal/crashpoint).
func crashHook(step string, log *slog.Logger) (crashpoint.Hook, error) {
	crash, err := crashpoint.Parse(step)
	if err == nil && crash.Step() != "" {
		log.Warn("test-only crash hook armed", "step", crash.Step())
	}
	return crash, err
}

// logWriter sends a build's tool output to the daemon log, line by line.
type logWriter struct {
	log *slog.Logger
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.log.Debug("build", "out", line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

var _ io.Writer = (*logWriter)(nil)

// fileSync converts the config's [[file_sync]] entries (validated by the
// config package: absolute paths, guest under /root, octal modes).
func fileSync(cfg *config.Config) []vm.FileSync {
	var out []vm.FileSync
	for _, f := range cfg.FileSync {
		var mode uint64
		if f.Mode != "" {
			mode, _ = strconv.ParseUint(f.Mode, 8, 32)
		}
		e := vm.FileSync{Host: expandHome(f.Host), Guest: f.Guest, Mode: os.FileMode(mode)}
		if rel, ok := strings.CutPrefix(f.Host, "~/"); ok {
			e.HomeRel = rel // a user's VM reads it under that user's home
		}
		out = append(out, e)
	}
	return out
}

// expandHome resolves a leading ~/ against the home of the user who runs
// the daemon (or SUDO_USER's, when started through sudo).
func expandHome(p string) string {
	if !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if u := os.Getenv("SUDO_USER"); u != "" {
		if pw, lerr := user.Lookup(u); lerr == nil {
			home, err = pw.HomeDir, nil
		}
	}
	if err != nil {
		return p
	}
	return filepath.Join(home, p[2:])
}
