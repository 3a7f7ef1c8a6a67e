package firecracker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"banger/internal/hosttools"
	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

// Name is the backend's name, the value of vmm that selects it.
const Name = "firecracker"

// The config keys the Firecracker backend owns, and their defaults.
const (
	BinaryKey         = "firecracker_bin"
	JailerKey         = "jailer_bin"
	JailerEnabledKey  = "jailer_enabled" // unset: on when the jailer is installed
	ChrootBaseKey     = "jailer_chroot_base"
	DefaultBinary     = "firecracker"
	DefaultJailer     = "jailer"
	installHint       = "install a firecracker release binary (https://github.com/firecracker-microvm/firecracker/releases; not packaged in Debian) on PATH"
	unsupportedReason = "reinstall the firecracker release binary for this architecture"
)

// Rank is Firecracker's place in the "auto" order: above QEMU, since it
// boots faster, when it is installed and KVM runs guests.
const Rank = 20

// Backend describes the Firecracker backend to a vmm.Registry.
func Backend() vmm.Backend {
	return vmm.Backend{
		Name: Name,
		Rank: Rank,
		Settings: []vmm.Setting{
			{Key: BinaryKey, Default: DefaultBinary},
			{Key: JailerKey, Default: DefaultJailer},
			{Key: JailerEnabledKey, Bool: true},
			{Key: ChrootBaseKey, Default: DefaultChrootBase},
		},
		Tools:     tools,
		Validate:  validateSettings,
		Available: available,
		New:       newFromEnv,
		Doctor:    doctorChecks,
	}
}

func tools(s vmm.Settings) []hosttools.Tool {
	return []hosttools.Tool{{Name: s.String(BinaryKey)}}
}

func validateSettings(s vmm.Settings) []error {
	var errs []error
	for _, k := range []string{BinaryKey, JailerKey} {
		if err := vmm.CheckProgram(k, s.String(k)); err != nil {
			errs = append(errs, err)
		}
	}
	if base := s.String(ChrootBaseKey); !filepath.IsAbs(base) || filepath.Clean(base) != base {
		errs = append(errs, fmt.Errorf("%s %q must be an absolute, clean path", ChrootBaseKey, base))
	}
	return errs
}

// available: Firecracker must be installed, and since it has no software
// fallback, KVM must be wanted and known to run guests (accel = "kvm"
// vouches for KVM without a test boot).
func available(ctx context.Context, env vmm.Env) error {
	if _, err := env.Host.WithDefaults().LookPath(env.Settings.String(BinaryKey)); err != nil {
		return errors.New("firecracker is not installed")
	}
	if !kvm.Wanted(env.Settings) {
		return errors.New("firecracker needs KVM and the config sets accel=tcg")
	}
	if env.Settings.String(kvm.AccelKey) == "kvm" {
		return nil
	}
	if st := kvm.Assess(ctx, env).State; st != kvm.Works {
		return errors.New("firecracker needs KVM and " + st.Reason())
	}
	return nil
}

// newFromEnv builds the backend from its settings: the binary must be on
// PATH; the jailer is used when installed unless jailer_enabled says.
func newFromEnv(env vmm.Env) (vmm.VMM, error) {
	s := env.Settings
	look := env.Host.WithDefaults().LookPath
	path, err := look(s.String(BinaryKey))
	if err != nil {
		return nil, fmt.Errorf("the firecracker binary %q was not found on PATH (install Firecracker, see docs/firecracker.md, or set %s)", s.String(BinaryKey), BinaryKey)
	}
	_, jailerErr := look(s.String(JailerKey))
	jailed := jailerErr == nil
	if v, set := s.Bool(JailerEnabledKey); set {
		jailed = v
	}
	// vm_uid_base (declared by QEMU, checked with the config): the same
	// uid range for every backend; a bad value falls back to the default.
	base, _ := vmm.ParseUIDBase(s.String(vmm.UIDBaseKey))
	return New(Options{
		Binary: path, JailerBinary: s.String(JailerKey), JailerEnabled: jailed,
		ChrootBase: s.String(ChrootBaseKey), Logger: env.Log, UIDBase: base,
	}), nil
}
