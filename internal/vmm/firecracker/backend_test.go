package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm"
)

// backendEnv is an Env whose LookPath finds only the programs in have, on a
// host whose /dev/kvm opens and whose KVM probe says probeOK.
func backendEnv(t *testing.T, s vmm.Settings, probeOK bool, have ...string) vmm.Env {
	dev := t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, "kvm"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	all := vmm.Settings{BinaryKey: DefaultBinary, JailerKey: DefaultJailer, ChrootBaseKey: DefaultChrootBase, "accel": "auto"}
	for k, v := range s {
		all[k] = v
	}
	return vmm.Env{Settings: all, Host: vmm.Host{
		DevRoot: dev,
		LookPath: func(name string) (string, error) {
			for _, h := range have {
				if h == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", errors.New("not found")
		},
		KVMProbe: func(context.Context) (bool, string, error) { return probeOK, "", nil },
	}}
}

func TestAvailable(t *testing.T) {
	tests := []struct {
		name    string
		s       vmm.Settings
		probeOK bool
		have    []string
		want    string
	}{
		{"installed, kvm runs guests", nil, true, []string{"firecracker"}, ""},
		{"not installed", nil, true, nil, "firecracker is not installed"},
		{"accel tcg", vmm.Settings{"accel": "tcg"}, true, []string{"firecracker"}, "firecracker needs KVM and the config sets accel=tcg"},
		{"kvm cannot run guests", nil, false, []string{"firecracker"}, "firecracker needs KVM and KVM cannot run a guest kernel here"},
		{"accel kvm vouches", vmm.Settings{"accel": "kvm"}, false, []string{"firecracker"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := available(context.Background(), backendEnv(t, tt.s, tt.probeOK, tt.have...))
			if (tt.want == "" && err != nil) || (tt.want != "" && (err == nil || err.Error() != tt.want)) {
				t.Errorf("available = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewFromEnvJailer(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name    string
		enabled *bool
		have    []string
		want    bool
	}{
		{"jailer installed", nil, []string{"firecracker", "jailer"}, true},
		{"jailer missing", nil, []string{"firecracker"}, false},
		{"forced off", &no, []string{"firecracker", "jailer"}, false},
		{"forced on", &yes, []string{"firecracker"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vmm.Settings{}
			if tt.enabled != nil {
				s[JailerEnabledKey] = *tt.enabled
			}
			v, err := newFromEnv(backendEnv(t, s, true, tt.have...))
			if err != nil {
				t.Fatal(err)
			}
			if f := v.(*Firecracker); f.jailed != tt.want || f.binary != "/usr/bin/firecracker" {
				t.Errorf("jailed %v binary %q, want jailed %v", f.jailed, f.binary, tt.want)
			}
		})
	}
	_, err := newFromEnv(backendEnv(t, nil, true))
	if err == nil || !strings.Contains(err.Error(), `the firecracker binary "firecracker" was not found on PATH`) {
		t.Errorf("missing binary: %v", err)
	}
}

// TestNewFromEnvUIDBase: the jailer's uids come from vm_uid_base, the
// range every backend shares, and default to it.
func TestNewFromEnvUIDBase(t *testing.T) {
	for _, tc := range []struct {
		base string
		want int
	}{{"", vmm.DefaultUIDBase + 5}, {"2000000", 2000005}} {
		s := vmm.Settings{JailerEnabledKey: true, vmm.UIDBaseKey: tc.base}
		v, err := newFromEnv(backendEnv(t, s, true, "firecracker", "jailer"))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.(*Firecracker).TapOwner(vmm.Config{GuestCID: 5}); got != tc.want {
			t.Errorf("vm_uid_base %q: TapOwner = %d, want %d", tc.base, got, tc.want)
		}
	}
}

func TestValidateSettings(t *testing.T) {
	s := vmm.Settings{BinaryKey: "", JailerKey: "jailer", ChrootBaseKey: "srv/jail"}
	errs := validateSettings(s)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "firecracker_bin is empty") || !strings.Contains(errs[1].Error(), `jailer_chroot_base "srv/jail" must be an absolute, clean path`) {
		t.Errorf("errors = %v", errs)
	}
}
