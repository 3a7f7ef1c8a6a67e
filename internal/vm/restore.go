package vm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/agent"
	"banger/internal/image"
	"banger/internal/poll"
	"banger/internal/progress"
	"banger/internal/store"
	"banger/internal/vmm"
)

// restoreMarker, in a VM's dir, names the template its root disk was
// cloned from: its first start restores that template; later starts boot
// cold from the same disk.
const restoreMarker = "restore-from"

// templateOfVM, in a VM's dir, names the template its root disk is an
// overlay over, for as long as the VM exists: the template is kept while
// it does.
const templateOfVM = "template"

// helloEvery is how often a restored guest's agent is asked for its hello:
// it answers within a few hundred milliseconds.
const helloEvery = 20 * time.Millisecond

// snapshotter returns v's backend when it can restore templates and the
// service keeps them.
func (s *Service) snapshotter(name string) (vmm.Snapshotter, bool) {
	if s.Templates == nil {
		return nil, false
	}
	sn, ok := s.Backends[name].(vmm.Snapshotter)
	return sn, ok
}

// templateMachine is the machine a template of img in shape runs: the
// image's kernel (as the backend boots it), the template's command line,
// and for the key the image's rootfs as first disk.
func (s *Service) templateMachine(ctx context.Context, b vmm.VMM, img image.Resolved, shape TemplateShape) (vmm.Config, error) {
	kernel := img.Kernel.Path
	if ka, ok := b.(vmm.KernelAdapter); ok {
		var err error
		if kernel, err = ka.Kernel(ctx, kernel); err != nil {
			return vmm.Config{}, err
		}
	}
	return vmm.Config{
		Kernel: kernel, Initrd: img.Kernel.Initrd, Cmdline: templateCmdline(bootInit(img, shape.Init)) + s.Guest.authKeyArg(),
		Disks: []vmm.Disk{{Path: img.Image.Rootfs, Format: "raw"}, {Format: "raw"}},
		// A template has the agent's SSH channel where the backend offers
		// one (the path is per VM; the port is part of the machine).
		SSHSocket: sshChannel(b),
		NICs:      []vmm.NIC{{}},
		VCPUs:     shape.VCPUs, MemoryMiB: shape.MemoryMiB,
	}, nil
}

// templateFor finds the template a new VM v of img can restore from.
func (s *Service) templateFor(ctx context.Context, v store.VM, img image.Resolved, room int64) (Template, bool) {
	sn, ok := s.snapshotter(v.Backend)
	if !ok {
		return Template{}, false
	}
	m, err := s.templateMachine(ctx, s.Backends[v.Backend], img, TemplateShape{VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB, RootBytes: room, Init: v.Init})
	if err != nil {
		return Template{}, false
	}
	key, err := TemplateKey(ctx, sn, v.Backend, img.Image.ID, m, room)
	if err != nil {
		s.Log.WarnContext(ctx, "template key", "vm", v.Name, "err", err)
		return Template{}, false
	}
	tp, err := s.Templates.Get(key)
	return tp, err == nil
}

// makeRootDisk makes v's root disk: an overlay over a fitting template's
// frozen root disk (and a marker so the first start restores it) unless
// cold, else the backend's root disk over the image.
func (s *Service) makeRootDisk(ctx context.Context, v store.VM, img image.Resolved, rd vmm.RootDisker, room int64, cold bool, p progress.Func) (vmm.Disk, error) {
	dir := s.vmDir(v.ID)
	if !cold {
		if tp, ok := s.templateFor(ctx, v, img, room); ok {
			sn, _ := s.snapshotter(v.Backend)
			d, err := sn.CloneDisk(ctx, tp.Disks[0], filepath.Join(dir, "root.qcow2"))
			for _, f := range []string{restoreMarker, templateOfVM} {
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, f), []byte(tp.Key+"\n"), 0o600)
				}
			}
			if err == nil {
				p.Msg("template", "root disk cloned from template "+tp.Key[:12])
				return d, nil
			}
			s.Log.WarnContext(ctx, "clone template disk; booting cold", "vm", v.Name, "err", err)
		}
	}
	return s.freshRootDisk(ctx, v, img.Image.Rootfs, dir, rd, room)
}

// pendingRestore returns the template v's first start restores.
func (s *Service) pendingRestore(v store.VM) (Template, vmm.Snapshotter, bool) {
	sn, ok := s.snapshotter(v.Backend)
	if !ok {
		return Template{}, nil, false
	}
	b, err := os.ReadFile(filepath.Join(s.vmDir(v.ID), restoreMarker))
	if err != nil {
		return Template{}, nil, false
	}
	tp, err := s.Templates.Get(strings.TrimSpace(string(b)))
	if err != nil {
		s.Log.Warn("template of a cloned VM is gone; booting cold", "vm", v.Name, "err", err)
		return Template{}, nil, false
	}
	return tp, sn, true
}

// bootOrRestore restores v from its template on its first start, and
// boots it cold otherwise or when the restore fails.
func (s *Service) bootOrRestore(ctx context.Context, v store.VM, b vmm.VMM, plan bootPlan, p progress.Func, u *undo) (*runtime, error) {
	tp, sn, ok := s.pendingRestore(v)
	if !ok {
		return s.boot(ctx, v, b, plan, p, u)
	}
	_ = os.Remove(filepath.Join(s.vmDir(v.ID), restoreMarker))
	rt, err := s.restore(ctx, v, sn, tp, plan, p, u)
	if err == nil {
		return rt, nil
	}
	s.Log.WarnContext(ctx, "restore failed; booting cold", "vm", v.Name, "template", tp.Key, "err", err)
	p.Msg("boot", fmt.Sprintf("restore failed (%v); booting cold", err))
	return s.boot(ctx, v, b, plan, p, u)
}

// restore starts v as a clone of tp and has it take its identity.
func (s *Service) restore(ctx context.Context, v store.VM, sn vmm.Snapshotter, tp Template, plan bootPlan, p progress.Func, u *undo) (*runtime, error) {
	cfg := cloneConfig(tp, plan.cfg, plan.cfg.Disks)
	if why := tp.fits(cfg); why != "" {
		return nil, errors.New(why)
	}
	started := time.Now()
	h, err := sn.Restore(ctx, cfg, tp.Dir)
	if err != nil {
		return nil, err
	}
	b := s.Backends[v.Backend]
	kill := func() { _ = b.Kill(context.WithoutCancel(ctx), h) }
	rt := &runtime{Handle: h, Tap: plan.net.Tap, AgentSocket: cfg.AgentSocket, SSHSocket: cfg.SSHSocket, IP: v.IP, NAT: v.NAT, StartedAt: started}
	if err := writeHandles(cfg.Dir, rt); err != nil {
		kill()
		return nil, err
	}
	if err := s.takeIdentity(ctx, v, sn, h, cfg, plan); err != nil {
		kill()
		return nil, fmt.Errorf("identity: %w", err)
	}
	u.push(kill)
	p.Msg("boot", fmt.Sprintf("restored from snapshot in %.2fs", time.Since(started).Seconds()))
	s.Log.InfoContext(ctx, "vm restored", "vm", v.Name, "template", tp.Key, "pid", h.PID, "took", time.Since(started))
	return rt, nil
}

// takeIdentity announces the clone's work disk size, waits for its agent
// and gives it its own identity.
func (s *Service) takeIdentity(ctx context.Context, v store.VM, sn vmm.Snapshotter, h vmm.Handle, cfg vmm.Config, plan bootPlan) error {
	work, err := os.Stat(cfg.Disks[1].Path)
	if err != nil {
		return fmt.Errorf("work disk: %w", err)
	}
	if err := sn.ResizedDisk(ctx, h, 1, work.Size()); err != nil {
		return err
	}
	netcfg := agent.NetConfig{Addr: netip.PrefixFrom(plan.net.IP, s.Net.Pool.Prefix().Bits()),
		Gateway: s.Net.Pool.Gateway(), DNS: []netip.Addr{s.Net.Pool.Gateway()}, Hostname: v.Name}
	id, err := newIdentity(netcfg, v.MAC, work.Size())
	if err != nil {
		return err
	}
	gv := s.guestOf(v, &runtime{AgentSocket: cfg.AgentSocket})
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var c *agent.Client
	err = poll.Until(actx, helloEvery, nil, func(ctx context.Context) (bool, error) {
		cc, err := s.Guest.dialAgent(ctx, gv, cfg.AgentSocket)
		if err != nil {
			return false, nil
		}
		if _, err := cc.Hello(ctx); err != nil {
			cc.Close()
			return false, nil
		}
		c = cc
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("the restored guest's agent did not answer: %w", err)
	}
	defer c.Close()
	_, err = c.TakeIdentity(actx, id)
	return err
}

// sshChannel is a placeholder SSH socket for a machine on b when b offers
// the agent's SSH channel, "" otherwise.
func sshChannel(b vmm.VMM) string {
	if _, ok := b.(vmm.SSHDialer); ok {
		return "ssh.sock"
	}
	return ""
}
