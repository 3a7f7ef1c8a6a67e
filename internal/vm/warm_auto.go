package vm

import (
	"context"
	"fmt"

	"banger/internal/image"
	"banger/internal/store"
)

// autoWarm makes, in the background, the template of v's image and shape
// when there is none (Service.AutoWarm, the config's auto_warm): the next
// VM like v restores it. One template is made at a time per key; the
// daemon's Close cancels it (the half-made template is removed).
func (s *Service) autoWarm(ctx context.Context, v store.VM, img image.Resolved, room int64) {
	if !s.AutoWarm || room != s.Defaults.RootBytes {
		return // templates have the default room on / only
	}
	if _, ok := s.snapshotter(v.Backend); !ok || v.Backend != s.Backend {
		return
	}
	if _, ok := s.templateFor(ctx, v, img, room); ok {
		return
	}
	job := fmt.Sprintf("%s/%s/%d/%d", img.Image.ID, v.Backend, v.VCPUs, v.MemoryMiB)
	if _, busy := s.warming.LoadOrStore(job, true); busy {
		return
	}
	req := WarmRequest{Image: img.Image.Name, VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB, Init: v.Init}
	s.runs.spawn(func(ctx context.Context) {
		defer s.warming.Delete(job)
		tp, err := s.Warm(ctx, req, nil)
		if err != nil {
			s.Log.WarnContext(ctx, "background template", "image", req.Image, "err", err)
			return
		}
		s.Log.InfoContext(ctx, "background template saved", "image", req.Image, "key", tp.Key, "boot_seconds", tp.BootSeconds)
	})
}
