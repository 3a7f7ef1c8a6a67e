package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/agent"
	"banger/internal/image"
	"banger/internal/progress"
	"banger/internal/store"
	"banger/internal/vmm"
)

// templateWorkBytes is the size of a template's own work disk: it is never
// mounted (each clone mounts its own), it only has to be there.
const templateWorkBytes = 64 << 20

// WarmRequest names the image and shape of a template; zero values take
// the VM defaults.
type WarmRequest struct {
	Image     string
	VCPUs     int
	MemoryMiB int
	Init      string // InitAgent, InitSystemd; "" for the image's
}

// templateShape is the shape of req with the defaults a VM created without
// them gets (the vCPUs fitted to the backend as create fits them), and the
// default room on /: templates are made with that room only.
func (s *Service) templateShape(ctx context.Context, req WarmRequest, b vmm.VMM, img image.Resolved) TemplateShape {
	shape := TemplateShape{VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, RootBytes: s.Defaults.RootBytes, Init: req.Init}
	if shape.VCPUs == 0 {
		cr := CreateRequest{VCPUs: s.Defaults.VCPUs, vcpusDefaulted: true}
		s.fitVCPUs(ctx, &cr, b, img.Kernel)
		shape.VCPUs = cr.VCPUs
	}
	if shape.MemoryMiB == 0 {
		shape.MemoryMiB = s.Defaults.MemoryMiB
	}
	return shape
}

// Warm makes the template VMs of req's image and shape restore from, or
// returns the one there is.
func (s *Service) Warm(ctx context.Context, req WarmRequest, p progress.Func) (Template, error) {
	sn, ok := s.snapshotter(s.Backend)
	if !ok {
		return Template{}, badRequest("VMM backend %q cannot snapshot VMs", s.Backend)
	}
	b := s.Backends[s.Backend]
	if req.Image == "" {
		req.Image = s.DefaultImage
	}
	if err := validInit(req.Init); err != nil {
		return Template{}, err
	}
	img, err := s.Images.Ensure(ctx, req.Image, p)
	if err != nil {
		return Template{}, err
	}
	if err := checkInit(ctx, img, req.Init); err != nil {
		return Template{}, err
	}
	shape := s.templateShape(ctx, req, b, img)
	m, err := s.templateMachine(ctx, b, img, shape)
	if err != nil {
		return Template{}, err
	}
	key, err := TemplateKey(ctx, sn, s.Backend, img.Image.ID, m, shape.RootBytes)
	if err != nil {
		return Template{}, err
	}
	unlock := s.lock("template/" + key) // one maker per template; the others then find it
	defer unlock()
	if tp, err := s.Templates.Get(key); err == nil {
		p.Msg("template", "template "+key[:12]+" is up to date")
		return tp, nil
	}
	dir := s.Templates.Path(key)
	_ = os.RemoveAll(dir) // a half-made one
	tp := Template{Key: key, ImageID: img.Image.ID, ImageName: img.Image.Name, Backend: s.Backend, TemplateShape: shape,
		Kernel: m.Kernel, Initrd: m.Initrd, Cmdline: m.Cmdline, NICs: len(m.NICs), Dir: dir}
	if err := s.makeTemplate(ctx, b, sn, img, &tp, p); err != nil {
		_ = os.RemoveAll(dir)
		return Template{}, fmt.Errorf("warm %s: %w", img.Image.Name, err)
	}
	if err := s.Templates.Save(tp); err != nil {
		_ = os.RemoveAll(dir)
		return Template{}, err
	}
	p.Msg("template", fmt.Sprintf("template %s of %s saved (%d vCPUs, %d MiB)", key[:12], img.Image.Name, shape.VCPUs, shape.MemoryMiB))
	return tp, nil
}

// makeTemplate boots the template in tp.Dir on its own tap, waits until
// its guest has settled and saves it.
func (s *Service) makeTemplate(ctx context.Context, b vmm.VMM, sn vmm.Snapshotter, img image.Resolved, tp *Template, p progress.Func) error {
	if err := os.MkdirAll(tp.Dir, 0o700); err != nil {
		return err
	}
	rd, ok := b.(vmm.RootDisker)
	if !ok {
		return fmt.Errorf("VMM backend %q cannot make root disks", b.Name())
	}
	root, err := s.freshRootDisk(ctx, store.VM{Name: "template " + tp.Key[:12]}, img.Image.Rootfs, tp.Dir, rd, tp.RootBytes)
	if err != nil {
		return err
	}
	work := vmm.Disk{Path: filepath.Join(tp.Dir, "work.ext4"), Format: "raw"}
	if err := s.makeWorkDisk(ctx, work.Path, templateWorkBytes, "", GitIdentity{}); err != nil {
		return err
	}
	tp.Disks = []vmm.Disk{root, work}
	id := "tpl" + tp.Key[:5]
	tap, err := s.Net.TapName(id)
	if err != nil {
		return err
	}
	owner := 0
	if to, ok := b.(vmm.TapOwner); ok {
		owner = to.TapOwner(vmm.Config{})
	}
	net := attachment{Tap: tap}
	if err := s.Net.attach(ctx, net, owner); err != nil {
		return err
	}
	defer s.Net.detach(context.WithoutCancel(ctx), id, net)
	cfg := vmm.Config{
		ID: id, Kernel: tp.Kernel, Initrd: tp.Initrd, Cmdline: tp.Cmdline, Disks: tp.Disks,
		NICs: []vmm.NIC{{Tap: tap, MAC: "52:54:00:00:00:01"}}, VCPUs: tp.VCPUs, MemoryMiB: tp.MemoryMiB,
		Dir: s.runDir(id), ConsoleLog: filepath.Join(tp.Dir, "console.log"), AgentSocket: s.agentSocket(id),
		// The agent's SSH channel is part of the machine: a clone's device
		// set must be the template's.
		SSHSocket: s.sshSocket(id),
	}
	defer os.RemoveAll(cfg.Dir)
	return s.bootAndSave(ctx, b, sn, cfg, tp, p)
}

// bootAndSave starts the template VM, waits for its agent's hello and for
// its RNG (agent method "settle"), and saves it.
func (s *Service) bootAndSave(ctx context.Context, b vmm.VMM, sn vmm.Snapshotter, cfg vmm.Config, tp *Template, p progress.Func) error {
	p.Msg("boot", fmt.Sprintf("booting a template of %s on %s", tp.ImageName, b.Name()))
	started := time.Now()
	h, err := sn.StartTemplate(ctx, cfg, tp.Dir)
	if err != nil {
		return err
	}
	exited := s.runs.exitOf(b, h)
	gv := guestVM{ID: cfg.ID, Name: "template of " + tp.ImageName, AgentSocket: cfg.AgentSocket, Backend: b}
	bctx, cancel := context.WithTimeout(ctx, s.Guest.bootTimeout())
	defer cancel()
	_, err = s.Guest.waitHello(bctx, gv, exited)
	var saveErr error
	if err == nil {
		// The save happens with the host still connected to the agent's
		// port: the guest is then waiting for a request, not pausing
		// between reads of a port nobody is connected to, so a clone
		// answers its first request at once.
		err = s.Guest.withAgent(bctx, gv, agent.MethodSettle, func(c *agent.Client) error {
			if _, err := c.Settle(bctx); err != nil {
				return err
			}
			tp.BootSeconds = time.Since(started).Seconds()
			p.Msg("snapshot", fmt.Sprintf("guest settled after %.1fs; saving", tp.BootSeconds))
			saveErr = sn.Snapshot(ctx, h, tp.Dir)
			return nil
		})
	}
	if err != nil {
		_ = b.Kill(context.WithoutCancel(ctx), h)
		return fmt.Errorf("template guest did not settle: %w; its console is %s", err, cfg.ConsoleLog)
	}
	if saveErr != nil {
		return saveErr
	}
	tp.Created = time.Now().UTC()
	return nil
}

// Snapshots lists the saved templates.
func (s *Service) Snapshots() ([]Template, error) {
	if s.Templates == nil {
		return nil, nil
	}
	return s.Templates.List()
}

// DeleteSnapshot removes the template whose key starts with prefix, unless
// a VM's disks are over it. It returns the full key.
func (s *Service) DeleteSnapshot(ctx context.Context, prefix string) (string, error) {
	all, err := s.Snapshots()
	if err != nil {
		return "", err
	}
	var match []Template
	for _, tp := range all {
		if prefix != "" && strings.HasPrefix(tp.Key, prefix) {
			match = append(match, tp)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no snapshot %q (%w); `banger image warm --list` shows them", prefix, ErrNotFound)
	case 1:
	default:
		return "", badRequest("%d snapshots start with %q: give more of the key", len(match), prefix)
	}
	inUse, err := s.backingFiles(ctx)
	if err != nil {
		return "", err
	}
	return match[0].Key, s.Templates.Delete(match[0].Key, inUse)
}

// backingFiles are the files the VMs' root disks are over: the template
// root disk of a VM restored from one.
func (s *Service) backingFiles(ctx context.Context) ([]string, error) {
	vms, err := s.Store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vms {
		if b, err := os.ReadFile(filepath.Join(s.vmDir(v.ID), templateOfVM)); err == nil {
			out = append(out, filepath.Join(s.Templates.Path(strings.TrimSpace(string(b))), "root"))
		}
	}
	return out, nil
}
