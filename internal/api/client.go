package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client talks to bangerd over its unix socket.
type Client struct {
	Socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
	return &Client{Socket: socket, http: &http.Client{Transport: tr}}
}

// ErrDaemonUnreachable is returned when nothing answers on the socket.
var ErrDaemonUnreachable = errors.New("bangerd is not running")

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://bangerd/"+Version+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return nil, fmt.Errorf("%w (socket %s): %v", ErrDaemonUnreachable, c.Socket, opErr.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e Error
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return &e
	}
	return &Error{Kind: KindFailed, Message: fmt.Sprintf("daemon answered %s: %s", resp.Status, strings.TrimSpace(string(b)))}
}

// call does a request and decodes a JSON answer into out (when non-nil).
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// stream does a request whose answer is a stream of events. Each progress or
// log event goes to onEvent; the result is decoded into out.
func (c *Client) stream(ctx context.Context, method, path string, body, out any, onEvent func(Event)) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode event of %s %s: %w", method, path, err)
		}
		switch ev.Type {
		case "result":
			if out != nil && len(ev.Result) > 0 {
				if err := json.Unmarshal(ev.Result, out); err != nil {
					return fmt.Errorf("decode result of %s %s: %w", method, path, err)
				}
			}
			return nil
		case "error":
			if ev.Error == nil {
				return &Error{Kind: KindFailed, Message: "operation failed without a message"}
			}
			return ev.Error
		default:
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read events of %s %s: %w", method, path, err)
	}
	return fmt.Errorf("%s %s: the daemon closed the stream before the operation finished (see the daemon log)", method, path)
}

func vmPath(name string, rest string) string { return "/vms/" + url.PathEscape(name) + rest }

// Ping checks that the daemon answers.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	var p Ping
	err := c.call(ctx, http.MethodGet, "/ping", nil, &p)
	return p, err
}

// Shutdown asks the daemon to exit. Running VMs keep running.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/shutdown", nil, nil)
}

// ListVMs lists every VM.
func (c *Client) ListVMs(ctx context.Context) ([]VM, error) {
	var vms []VM
	err := c.call(ctx, http.MethodGet, "/vms", nil, &vms)
	return vms, err
}

// GetVM shows one VM by name or id.
func (c *Client) GetVM(ctx context.Context, name string) (VM, error) {
	var vm VM
	err := c.call(ctx, http.MethodGet, vmPath(name, ""), nil, &vm)
	return vm, err
}

// CreateVM creates (and by default starts) a VM, streaming progress.
func (c *Client) CreateVM(ctx context.Context, req CreateVM, onEvent func(Event)) (VM, error) {
	var vm VM
	err := c.stream(ctx, http.MethodPost, "/vms", req, &vm, onEvent)
	return vm, err
}

// VMAction runs start, stop, restart or kill on a VM.
func (c *Client) VMAction(ctx context.Context, name, action string, onEvent func(Event)) (VM, error) {
	var vm VM
	err := c.stream(ctx, http.MethodPost, vmPath(name, "/"+action), nil, &vm, onEvent)
	return vm, err
}

// DeleteVM stops a VM if needed and removes every file of it.
func (c *Client) DeleteVM(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, vmPath(name, ""), nil, nil)
}

// PruneVMs deletes every VM that is not running.
func (c *Client) PruneVMs(ctx context.Context) (PruneResult, error) {
	var r PruneResult
	err := c.call(ctx, http.MethodPost, "/vms/prune", nil, &r)
	return r, err
}

// SSHTarget returns how to reach a running VM with ssh.
func (c *Client) SSHTarget(ctx context.Context, name string) (SSHTarget, error) {
	var t SSHTarget
	err := c.call(ctx, http.MethodGet, vmPath(name, "/ssh"), nil, &t)
	return t, err
}

// Logs copies the VM's serial console log from byte offset on to w and
// returns how many bytes it copied.
func (c *Client) Logs(ctx context.Context, name string, offset int64, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, vmPath(name, "/logs")+"?offset="+strconv.FormatInt(offset, 10), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// ListImages lists images.
func (c *Client) ListImages(ctx context.Context) ([]Image, error) {
	var out []Image
	err := c.call(ctx, http.MethodGet, "/images", nil, &out)
	return out, err
}

// GetImage shows one image.
func (c *Client) GetImage(ctx context.Context, name string) (Image, error) {
	var out Image
	err := c.call(ctx, http.MethodGet, "/images/"+url.PathEscape(name), nil, &out)
	return out, err
}

// BuildImage builds a golden image, streaming progress.
func (c *Client) BuildImage(ctx context.Context, req BuildImage, onEvent func(Event)) (Image, error) {
	var out Image
	err := c.stream(ctx, http.MethodPost, "/images/build", req, &out, onEvent)
	return out, err
}

// DeleteImage removes an image no VM uses.
func (c *Client) DeleteImage(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/images/"+url.PathEscape(name), nil, nil)
}

// ListKernels lists kernels.
func (c *Client) ListKernels(ctx context.Context) ([]Kernel, error) {
	var out []Kernel
	err := c.call(ctx, http.MethodGet, "/kernels", nil, &out)
	return out, err
}

// SetWorkspace records the workspace a VM holds.
func (c *Client) SetWorkspace(ctx context.Context, name string, ws Workspace) error {
	return c.call(ctx, http.MethodPost, vmPath(name, "/workspace"), ws, nil)
}

// Forward forwards a host port to a VM until ctx ends; ready is called once
// the host side listens.
func (c *Client) Forward(ctx context.Context, name string, req ForwardRequest, ready func(Forward)) error {
	return c.stream(ctx, http.MethodPost, vmPath(name, "/forwards"), req, nil, func(ev Event) {
		var f Forward
		if ev.Type == "forward" && json.Unmarshal(ev.Result, &f) == nil && ready != nil {
			ready(f)
		}
	})
}

// ListForwards lists the active forwards.
func (c *Client) ListForwards(ctx context.Context) ([]Forward, error) {
	var out []Forward
	err := c.call(ctx, http.MethodGet, "/forwards", nil, &out)
	return out, err
}

// Ports lists a VM's listening sockets (from its guest agent).
func (c *Client) Ports(ctx context.Context, name string) ([]Port, error) {
	var out []Port
	err := c.call(ctx, http.MethodGet, vmPath(name, "/ports"), nil, &out)
	return out, err
}

// Stats returns a VM's load, memory and disk figures.
func (c *Client) Stats(ctx context.Context, name string) (Stats, error) {
	var out Stats
	err := c.call(ctx, http.MethodGet, vmPath(name, "/stats"), nil, &out)
	return out, err
}

// SetVM changes a VM's vCPUs, memory or NAT.
func (c *Client) SetVM(ctx context.Context, name string, req SetVM) (VM, error) {
	var vm VM
	err := c.call(ctx, http.MethodPatch, vmPath(name, ""), req, &vm)
	return vm, err
}
