package vm

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"banger/internal/crashpoint"
	"banger/internal/progress"
	"banger/internal/store"
	"banger/internal/vmm"
)

// Start boots a stopped VM and waits until it is ready.
func (s *Service) Start(ctx context.Context, name string, p progress.Func) (Info, error) {
	return s.startNamed(ctx, name, p, GitIdentity{})
}

// startNamed starts the VM called name, setting git in the guest once it
// is ready (when git names one).
func (s *Service) startNamed(ctx context.Context, name string, p progress.Func, git GitIdentity) (Info, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return Info{}, err
	}
	ctx, done := s.starting.begin(ctx, v.ID)
	defer done()
	unlock := s.lock(v.ID)
	defer unlock()
	if s.runs.get(v.ID) != nil {
		return s.info(ctx, v), nil
	}
	if ctx.Err() != nil { // pre-empted while it waited for the lock
		return Info{}, preempted(ctx, ctx.Err())
	}
	if err := s.start(ctx, v, p, git); err != nil {
		return Info{}, preempted(ctx, err)
	}
	return s.reload(ctx, v.ID)
}

// bootPlan is what one boot of a VM needs: the backend's config and the
// VM's place on the host network.
type bootPlan struct {
	cfg vmm.Config
	net attachment
}

func (s *Service) plan(ctx context.Context, v store.VM, b vmm.VMM) (bootPlan, error) {
	img, err := s.Images.Get(ctx, v.ImageID)
	if err != nil {
		return bootPlan{}, err
	}
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return bootPlan{}, fmt.Errorf("stored address %q: %w", v.IP, err)
	}
	tap, err := s.Net.TapName(v.ID)
	if err != nil {
		return bootPlan{}, err
	}
	kernel := img.Kernel.Path
	if ka, ok := b.(vmm.KernelAdapter); ok {
		if kernel, err = ka.Kernel(ctx, kernel); err != nil {
			return bootPlan{}, err
		}
	}
	root, err := s.rootDisk(ctx, v)
	if err != nil {
		return bootPlan{}, err
	}
	cmdline := kernelCmdline(v, netip.PrefixFrom(ip, s.Net.Pool.Prefix().Bits()), s.Net.Pool.Gateway())
	if init := bootInit(img, v.Init); init != "" {
		cmdline += " init=" + init
	}
	cmdline += s.Guest.authKeyArg()
	cfg := vmm.Config{
		ID:          v.ID,
		Kernel:      kernel,
		Initrd:      img.Kernel.Initrd,
		Cmdline:     cmdline,
		Disks:       []vmm.Disk{root, {Path: filepath.Join(s.vmDir(v.ID), "work.ext4"), Format: "raw"}},
		NICs:        []vmm.NIC{{Tap: tap, MAC: v.MAC}},
		VCPUs:       v.VCPUs,
		MemoryMiB:   v.MemoryMiB,
		Dir:         s.runDir(v.ID),
		ConsoleLog:  s.consoleLog(v.ID),
		AgentSocket: s.agentSocket(v.ID),
		SSHSocket:   s.sshSocket(v.ID),
		GuestCID:    v.GuestCID,
	}
	return bootPlan{cfg: cfg, net: attachment{Tap: tap, IP: ip, MAC: v.MAC, NAT: v.NAT}}, nil
}

func kernelCmdline(v store.VM, addr netip.Prefix, gw netip.Addr) string {
	return fmt.Sprintf("console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 quiet "+
		"systemd.show_status=auto banger.ip=%s banger.gw=%s banger.hostname=%s", addr, gw, v.Name)
}

// start boots v: network, runtime dir, the VMM process, then the wait until
// the guest is ready. Each step is undone, in reverse order, when a later
// one fails.
func (s *Service) start(ctx context.Context, v store.VM, p progress.Func, git GitIdentity) (err error) {
	ctx = withFilesOf(ctx, v.OwnerUID)
	b, err := s.backend(v.Backend)
	if err != nil {
		return err
	}
	plan, err := s.plan(ctx, v, b)
	if err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	var u undo
	defer func() {
		if err != nil {
			u.run()
		}
	}()
	bg := context.WithoutCancel(ctx)
	p.Msg("network", "bridge "+s.Net.Bridge+", tap "+plan.net.Tap)
	owner := 0
	if to, ok := b.(vmm.TapOwner); ok {
		owner = to.TapOwner(plan.cfg)
	}
	if err := s.recordStart(v, plan, &u); err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	if err := s.Net.attach(ctx, plan.net, owner); err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	u.push(func() { s.Net.detach(bg, v.ID, plan.net) })
	s.Crash.At(crashpoint.StartNet)
	s.events.Publish(Event{Kind: BridgeReady, Bridge: s.Net.Bridge})
	con, err := s.pipeConsole(b, &plan.cfg, v.ID, owner)
	if err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	u.push(con.stop)
	rt, err := s.bootOrRestore(ctx, v, b, plan, p, &u)
	if err != nil {
		return err
	}
	rt.console = con
	exited := s.runs.exitOf(b, rt.Handle)
	p.Msg("ssh", "waiting for the guest agent of "+v.Name)
	if err := s.ready(ctx, v, rt, exited, p, git); err != nil {
		return fmt.Errorf("start %s: %w; the serial console is in `banger vm logs %s`", v.Name, err, v.Name)
	}
	u.push(func() { rt.closeLink() })
	if err := s.Store.UpdateVMState(ctx, v.ID, store.VMStateRunning); err != nil {
		return err
	}
	s.runs.add(v.ID, rt)
	s.runs.watch(exited, func() { s.onExit(v.ID, rt) })
	s.publish(ctx, Event{Kind: VMStarted, ID: v.ID, Name: v.Name})
	p.Msg("ready", fmt.Sprintf("%s is ready after %.1fs", v.Name, time.Since(rt.StartedAt).Seconds()))
	return nil
}

// boot starts the VMM process and records its handles; a kill of the
// process goes on u.
func (s *Service) boot(ctx context.Context, v store.VM, b vmm.VMM, plan bootPlan, p progress.Func, u *undo) (*runtime, error) {
	p.Msg("boot", fmt.Sprintf("booting %s on %s", v.Name, b.Name()))
	started := time.Now()
	h, err := b.Start(ctx, plan.cfg)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", v.Name, err)
	}
	u.push(func() { _ = b.Kill(context.WithoutCancel(ctx), h) })
	s.Crash.At(crashpoint.StartVMM)
	rt := &runtime{Handle: h, Tap: plan.net.Tap, AgentSocket: plan.cfg.AgentSocket, SSHSocket: plan.cfg.SSHSocket, IP: v.IP, NAT: v.NAT, StartedAt: started}
	if err := writeHandles(plan.cfg.Dir, rt); err != nil {
		return nil, err
	}
	s.Crash.At(crashpoint.StartHandles)
	s.Log.InfoContext(ctx, "vm started", "vm", v.Name, "pid", h.PID, "accel", h.Accel, "tap", plan.net.Tap)
	return rt, nil
}

// ready waits until the booted VM accepts work: Ready when set, else the
// guest's agent (and its sshd when the agent does not serve SSH), with
// file sync and git over SSH. A run reached over its agent keeps the
// connection and says so in its handles.
func (s *Service) ready(ctx context.Context, v store.VM, rt *runtime, exited <-chan struct{}, p progress.Func, git GitIdentity) error {
	if s.Ready != nil {
		return s.Ready(ctx, v, exited)
	}
	link, err := s.Guest.waitReady(ctx, s.guestOf(v, rt), exited, p, git)
	if err != nil || link == nil {
		return err
	}
	rt.ssh, rt.ViaAgent = link, true
	if err := writeHandles(s.runDir(v.ID), rt); err != nil {
		rt.closeLink()
		return err
	}
	return nil
}
