package firecracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The request bodies below follow the definitions of the same name in
// Firecracker's OpenAPI spec (src/firecracker/swagger/firecracker.yaml). Only
// the fields banger sets are modelled; optional ones are omitempty.

// BootSource is the body of PUT /boot-source.
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	BootArgs        string `json:"boot_args,omitempty"`
}

// Drive is the body of PUT /drives/{drive_id}.
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
}

// NetworkInterface is the body of PUT /network-interfaces/{iface_id}.
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMAC    string `json:"guest_mac,omitempty"`
}

// MachineConfig is the body of PUT /machine-config (MachineConfiguration).
type MachineConfig struct {
	VCPUCount  int `json:"vcpu_count"`
	MemSizeMiB int `json:"mem_size_mib"`
}

// Vsock is the body of PUT /vsock.
type Vsock struct {
	GuestCID uint32 `json:"guest_cid"`
	UDSPath  string `json:"uds_path"`
}

// Logger is the body of PUT /logger.
type Logger struct {
	LogPath   string `json:"log_path,omitempty"`
	Level     string `json:"level,omitempty"`
	ShowLevel bool   `json:"show_level,omitempty"`
}

// Metrics is the body of PUT /metrics.
type Metrics struct {
	MetricsPath string `json:"metrics_path"`
}

// SerialDevice is the body of PUT /serial (Firecracker >= 1.14).
type SerialDevice struct {
	SerialOutPath string `json:"serial_out_path"`
}

// Action types of PUT /actions (InstanceActionInfo.action_type).
const (
	ActionInstanceStart  = "InstanceStart"
	ActionSendCtrlAltDel = "SendCtrlAltDel"
	ActionFlushMetrics   = "FlushMetrics"
)

type instanceAction struct {
	ActionType string `json:"action_type"`
}

// APIError is a non-2xx answer of the Firecracker API, with the request that
// caused it.
type APIError struct {
	Method, Path string
	Body         string // the request body sent
	Status       int
	Fault        string // fault_message of the answer, or its raw text
}

func (e *APIError) Error() string {
	return fmt.Sprintf("firecracker api %s %s %s: %d %s", e.Method, e.Path, e.Body, e.Status, e.Fault)
}

// Client talks to one Firecracker API socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the API socket at path. Each request runs
// on its own connection, so a client is safe for concurrent use.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Socket is the API socket path.
func (c *Client) Socket() string { return c.socket }

// Put sends PUT path with body encoded as JSON.
func (c *Client) Put(ctx context.Context, path string, body any) error {
	return c.do(ctx, http.MethodPut, path, body, nil)
}

// Get sends GET path and decodes the JSON answer into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("firecracker api %s %s: encode body: %w", method, path, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("firecracker api %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("firecracker api %s %s via %s: %w", method, path, c.socket, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("firecracker api %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Method: method, Path: path, Body: string(raw), Status: resp.StatusCode}
		var fault struct {
			FaultMessage string `json:"fault_message"`
		}
		if json.Unmarshal(b, &fault) == nil && fault.FaultMessage != "" {
			e.Fault = fault.FaultMessage
		} else {
			e.Fault = strings.TrimSpace(string(b))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("firecracker api %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// PutBootSource sets the kernel, initrd and command line.
func (c *Client) PutBootSource(ctx context.Context, b BootSource) error {
	return c.Put(ctx, "/boot-source", b)
}

// PutDrive attaches a block device.
func (c *Client) PutDrive(ctx context.Context, d Drive) error {
	return c.Put(ctx, "/drives/"+d.DriveID, d)
}

// PutNetworkInterface attaches a tap-backed NIC.
func (c *Client) PutNetworkInterface(ctx context.Context, n NetworkInterface) error {
	return c.Put(ctx, "/network-interfaces/"+n.IfaceID, n)
}

// PutMachineConfig sets vCPUs and memory.
func (c *Client) PutMachineConfig(ctx context.Context, m MachineConfig) error {
	return c.Put(ctx, "/machine-config", m)
}

// PutVsock adds the vsock device.
func (c *Client) PutVsock(ctx context.Context, v Vsock) error {
	return c.Put(ctx, "/vsock", v)
}

// PutLogger points Firecracker's own log at a file.
func (c *Client) PutLogger(ctx context.Context, l Logger) error {
	return c.Put(ctx, "/logger", l)
}

// PutMetrics points Firecracker's metrics at a file.
func (c *Client) PutMetrics(ctx context.Context, m Metrics) error {
	return c.Put(ctx, "/metrics", m)
}

// PutSerial sends the guest serial console to a pre-created file.
func (c *Client) PutSerial(ctx context.Context, s SerialDevice) error {
	return c.Put(ctx, "/serial", s)
}

// Action sends PUT /actions with one of the Action* types.
func (c *Client) Action(ctx context.Context, actionType string) error {
	return c.Put(ctx, "/actions", instanceAction{ActionType: actionType})
}
