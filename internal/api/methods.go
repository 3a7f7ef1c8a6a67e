package api

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
)

// Ping checks that the daemon answers.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	return call(ctx, c, Endpoints.Ping, Empty{})
}

// Shutdown asks the daemon to exit. Running VMs keep running.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := call(ctx, c, Endpoints.Shutdown, Empty{})
	return err
}

// ListVMs lists every VM.
func (c *Client) ListVMs(ctx context.Context) ([]VM, error) {
	return call(ctx, c, Endpoints.ListVMs, Empty{})
}

// GetVM shows one VM by name or id.
func (c *Client) GetVM(ctx context.Context, name string) (VM, error) {
	return call(ctx, c, Endpoints.GetVM, Empty{}, name)
}

// CreateVM creates (and by default starts) a VM, streaming progress.
func (c *Client) CreateVM(ctx context.Context, req CreateVM, onEvent func(Event)) (VM, error) {
	return stream(ctx, c, Endpoints.CreateVM, req, onEvent)
}

// HoldVM creates a VM with req.Remove set that lives as long as ctx: ready
// is called with the VM once it is ready, and HoldVM returns when ctx
// ends (the daemon then deletes the VM) or the create fails. The daemon
// deletes the VM however the client goes away. A daemon that does not
// hold VMs answers with the VM as its result, which HoldVM returns.
func (c *Client) HoldVM(ctx context.Context, req CreateVM, onEvent func(Event), ready func(VM)) (VM, error) {
	req.Remove = true
	return stream(ctx, c, Endpoints.CreateVM, req, func(ev Event) {
		var v VM
		if ev.Type == "vm" && json.Unmarshal(ev.Result, &v) == nil {
			ready(v)
			return
		}
		if onEvent != nil {
			onEvent(ev)
		}
	})
}

// VMAction runs start, stop, restart or kill on a VM.
func (c *Client) VMAction(ctx context.Context, name, action string, onEvent func(Event)) (VM, error) {
	return stream(ctx, c, Endpoints.VMAction, Empty{}, onEvent, name, action)
}

// DeleteVM stops a VM if needed and removes every file of it.
func (c *Client) DeleteVM(ctx context.Context, name string) error {
	_, err := call(ctx, c, Endpoints.DeleteVM, Empty{}, name)
	return err
}

// PruneVMs deletes every VM that is not running.
func (c *Client) PruneVMs(ctx context.Context) (PruneResult, error) {
	return call(ctx, c, Endpoints.PruneVMs, Empty{})
}

// SSHTarget returns how to reach a running VM with ssh.
func (c *Client) SSHTarget(ctx context.Context, name string) (SSHTarget, error) {
	return call(ctx, c, Endpoints.SSHTarget, Empty{}, name)
}

// Logs copies the VM's serial console log from byte offset on to w and
// returns how many bytes it copied.
func (c *Client) Logs(ctx context.Context, name string, offset int64, w io.Writer) (int64, error) {
	resp, err := send(ctx, c, Endpoints.Logs, Empty{}, "?offset="+strconv.FormatInt(offset, 10), name)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// SetWorkspace records the workspace a VM holds.
func (c *Client) SetWorkspace(ctx context.Context, name string, ws Workspace) error {
	_, err := call(ctx, c, Endpoints.SetWorkspace, ws, name)
	return err
}

// Forward forwards a host port to a VM until ctx ends; ready is called once
// the host side listens.
func (c *Client) Forward(ctx context.Context, name string, req ForwardRequest, ready func(Forward)) error {
	_, err := stream(ctx, c, Endpoints.Forward, req, func(ev Event) {
		var f Forward
		if ev.Type == "forward" && json.Unmarshal(ev.Result, &f) == nil && ready != nil {
			ready(f)
		}
	}, name)
	return err
}

// ListForwards lists the active forwards.
func (c *Client) ListForwards(ctx context.Context) ([]Forward, error) {
	return call(ctx, c, Endpoints.ListForwards, Empty{})
}

// Ports lists a VM's listening sockets (from its guest agent).
func (c *Client) Ports(ctx context.Context, name string) ([]Port, error) {
	return call(ctx, c, Endpoints.Ports, Empty{}, name)
}

// Stats returns a VM's load, memory and disk figures.
func (c *Client) Stats(ctx context.Context, name string) (Stats, error) {
	return call(ctx, c, Endpoints.Stats, Empty{}, name)
}

// SetVM changes a VM's vCPUs, memory or NAT.
func (c *Client) SetVM(ctx context.Context, name string, req SetVM) (VM, error) {
	return call(ctx, c, Endpoints.SetVM, req, name)
}

// ListImages lists images.
func (c *Client) ListImages(ctx context.Context) ([]Image, error) {
	return call(ctx, c, Endpoints.ListImages, Empty{})
}

// GetImage shows one image.
func (c *Client) GetImage(ctx context.Context, name string) (Image, error) {
	return call(ctx, c, Endpoints.GetImage, Empty{}, name)
}

// BuildImage builds a golden image, streaming progress.
func (c *Client) BuildImage(ctx context.Context, req BuildImage, onEvent func(Event)) (Image, error) {
	return stream(ctx, c, Endpoints.BuildImage, req, onEvent)
}

// DeleteImage removes an image no VM uses.
func (c *Client) DeleteImage(ctx context.Context, name string) error {
	_, err := call(ctx, c, Endpoints.DeleteImage, Empty{}, name)
	return err
}

// PullImage installs an image from the catalog or a container image,
// streaming progress.
func (c *Client) PullImage(ctx context.Context, req PullImage, onEvent func(Event)) (Image, error) {
	return stream(ctx, c, Endpoints.PullImage, req, onEvent)
}

// RegisterImage records files as an unmanaged image.
func (c *Client) RegisterImage(ctx context.Context, req RegisterImage) (Image, error) {
	return call(ctx, c, Endpoints.RegisterImage, req)
}

// PromoteImage copies a registered image into banger's storage, streaming
// progress.
func (c *Client) PromoteImage(ctx context.Context, name string, onEvent func(Event)) (Image, error) {
	return stream(ctx, c, Endpoints.PromoteImage, Empty{}, onEvent, name)
}

// BundleImage writes a catalog bundle of an image into req.Out.
func (c *Client) BundleImage(ctx context.Context, name string, req BundleRequest) (Bundle, error) {
	return call(ctx, c, Endpoints.BundleImage, req, name)
}

// PruneImageCache removes cached OCI layers and catalog bundles.
func (c *Client) PruneImageCache(ctx context.Context, req PruneCache) (CacheReport, error) {
	return call(ctx, c, Endpoints.PruneImageCache, req)
}

// Catalog lists the images and kernels banger can download.
func (c *Client) Catalog(ctx context.Context) (Catalog, error) {
	return call(ctx, c, Endpoints.Catalog, Empty{})
}

// ListKernels lists kernels.
func (c *Client) ListKernels(ctx context.Context) ([]Kernel, error) {
	return call(ctx, c, Endpoints.ListKernels, Empty{})
}

// GetKernel shows one kernel.
func (c *Client) GetKernel(ctx context.Context, name string) (Kernel, error) {
	return call(ctx, c, Endpoints.GetKernel, Empty{}, name)
}

// DeleteKernel removes a kernel no image uses.
func (c *Client) DeleteKernel(ctx context.Context, name string) error {
	_, err := call(ctx, c, Endpoints.DeleteKernel, Empty{}, name)
	return err
}

// PullKernel installs a kernel from the catalog, streaming progress.
func (c *Client) PullKernel(ctx context.Context, req PullKernel, onEvent func(Event)) (Kernel, error) {
	return stream(ctx, c, Endpoints.PullKernel, req, onEvent)
}

// ImportKernel copies a kernel from a directory into banger's storage.
func (c *Client) ImportKernel(ctx context.Context, req ImportKernel) (Kernel, error) {
	return call(ctx, c, Endpoints.ImportKernel, req)
}

// BundleKernel writes a catalog bundle of a kernel into req.Out.
func (c *Client) BundleKernel(ctx context.Context, name string, req BundleRequest) (Bundle, error) {
	return call(ctx, c, Endpoints.BundleKernel, req, name)
}
