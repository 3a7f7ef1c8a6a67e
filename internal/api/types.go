// Package api holds the wire types of bangerd's HTTP/JSON API and the client
// the CLI uses. The daemon and the CLI share this package and nothing else.
package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the API version prefix.
const Version = "v1"

// OpHeader carries the operation id of every request.
const OpHeader = "X-Banger-Op"

// Error kinds, mapped to HTTP status codes by the daemon.
const (
	KindNotFound      = "not_found"
	KindAlreadyExists = "already_exists"
	KindBadRequest    = "bad_request"
	KindInUse         = "in_use"
	KindFailed        = "operation_failed"
	KindUnknown       = "unknown_method"
	KindForbidden     = "forbidden" // the caller may not use the daemon, or not for this
)

// Error is the body of every failed response and the payload of a failed
// stream's last event.
type Error struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	OpID    string `json:"op_id,omitempty"`
}

func (e *Error) Error() string {
	if e.OpID == "" {
		return e.Message
	}
	return fmt.Sprintf("%s (op %s)", e.Message, e.OpID)
}

// Event is one line of a streamed response (application/x-ndjson).
// A stream ends with exactly one event of type "result" or "error".
type Event struct {
	Type    string          `json:"type"` // "progress", "log", "operation", "result", "error"
	Step    string          `json:"step,omitempty"`
	Done    int64           `json:"done,omitempty"`
	Total   int64           `json:"total,omitempty"`
	Message string          `json:"message,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Ping is the answer of GET /v1/ping.
type Ping struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`
	Socket  string `json:"socket"`
	// The daemon's build, for `banger version`. Daemons older than these
	// fields leave them out.
	APIVersion string `json:"api_version,omitempty"` // Version, e.g. "v1"
	Commit     string `json:"commit,omitempty"`      // the VCS revision it was built from
	Modified   bool   `json:"modified,omitempty"`    // built from a work tree with uncommitted changes
	GoVersion  string `json:"go_version,omitempty"`
	OS         string `json:"os,omitempty"`
	Arch       string `json:"arch,omitempty"`
}

// VM is a VM as the API shows it: the durable record plus live state.
type VM struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	State     string     `json:"state"` // created, running, stopped
	Image     string     `json:"image"`
	IP        string     `json:"ip"`
	MAC       string     `json:"mac"`
	VCPUs     int        `json:"vcpus"`
	MemoryMiB int        `json:"memory_mib"`
	DiskBytes int64      `json:"disk_bytes"`
	NAT       bool       `json:"nat"`
	Backend   string     `json:"backend"`
	Accel     string     `json:"accel,omitempty"`
	PID       int        `json:"pid,omitempty"`
	Tap       string     `json:"tap,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	Dir       string     `json:"dir,omitempty"`
	Workspace *Workspace `json:"workspace,omitempty"`
	Init      string     `json:"init,omitempty"`
	// Lifetime: AutoStopSeconds is how long the VM may stay idle before
	// it is stopped (0: never); IdleSince is since when the running VM has
	// been idle and StopsAt when it stops if it stays so; ExpiresAt is when
	// it is deleted (its time to live). StoppedReason is "idle" for a VM
	// stopped for idleness.
	AutoStopSeconds int64      `json:"auto_stop_seconds,omitempty"`
	IdleSince       *time.Time `json:"idle_since,omitempty"`
	StopsAt         *time.Time `json:"stops_at,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	StoppedReason   string     `json:"stopped_reason,omitempty"`
}

// Workspace is the repository a VM holds.
type Workspace struct {
	HostPath  string    `json:"host_path"`
	GuestPath string    `json:"guest_path"`
	Head      string    `json:"head"`
	UpdatedAt time.Time `json:"updated_at,omitempty"`
}

// CreateVM is the body of POST /v1/vms.
type CreateVM struct {
	Name      string `json:"name,omitempty"`
	Image     string `json:"image,omitempty"`
	VCPUs     int    `json:"vcpus,omitempty"`
	MemoryMiB int    `json:"memory_mib,omitempty"`
	DiskSize  string `json:"disk_size,omitempty"`
	// RootSize is the room on / ("4G"); empty: the config's root_size.
	RootSize string `json:"root_size,omitempty"`
	NAT      *bool  `json:"nat,omitempty"` // nil: the config's nat_default
	NoStart  bool   `json:"no_start,omitempty"`
	// Cold boots the VM even when a snapshot of its image could be
	// restored.
	Cold bool `json:"cold,omitempty"`
	// GitName and GitEmail are the host user's git identity, set in the
	// guest at its first boot.
	GitName  string `json:"git_name,omitempty"`
	GitEmail string `json:"git_email,omitempty"`
	// Remove ("rm") makes the VM live only as long as this request: the
	// VM is sent as a "vm" event once it is ready and the stream stays
	// open; when the client closes it, or the create fails, or the client
	// goes away at any point, the daemon deletes the VM (Client.HoldVM).
	Remove bool `json:"rm,omitempty"`
	// Init is what the VM boots as PID 1: "agent" (banger-agent) or
	// "systemd" (the image's /sbin/init); empty for the image's choice.
	Init string `json:"init,omitempty"`
	// AutoStop ("30m", "off") stops the VM once idle that long; empty
	// follows the daemon's auto_stop_stale_after. TTL ("2h") deletes it
	// at that age; empty: never.
	AutoStop string `json:"auto_stop,omitempty"`
	TTL      string `json:"ttl,omitempty"`
}

// SSHTarget tells the CLI how to reach a VM with the system ssh client.
type SSHTarget struct {
	VM           string `json:"vm"`
	User         string `json:"user"`
	Host         string `json:"host"`
	Port         int    `json:"port"`
	KeyPath      string `json:"key_path"`
	KnownHosts   string `json:"known_hosts"`
	HostKeyAlias string `json:"host_key_alias"`
	// Via is ViaAgent when the VM is reached over its agent (the stream
	// of Endpoints.Connect, as the ssh client's ProxyCommand) rather than
	// over the network to Host:Port.
	Via string `json:"via,omitempty"`
}

// ViaAgent is SSHTarget.Via for a VM whose SSH server is its agent.
const ViaAgent = "agent"

// Image is an image as the API shows it.
type Image struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Rootfs    string    `json:"rootfs"`
	Kernel    string    `json:"kernel"`
	SizeBytes int64     `json:"size_bytes"`
	Managed   bool      `json:"managed"`
	Source    string    `json:"source"`
	Init      string    `json:"init,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Kernel is a kernel as the API shows it.
type Kernel struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Initrd    string    `json:"initrd,omitempty"`
	Version   string    `json:"version"`
	Managed   bool      `json:"managed"`
	CreatedAt time.Time `json:"created_at"`
}

// BuildImage is the body of POST /v1/images/build.
type BuildImage struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

// PruneResult lists the VMs a prune deleted.
type PruneResult struct {
	Deleted []string `json:"deleted"`
}

// ForwardRequest is the body of POST /v1/vms/{name}/forwards. The forward
// lives as long as the request's response stream stays open.
type ForwardRequest struct {
	Spec string `json:"spec"` // [HOST_ADDR:]HOST_PORT:GUEST_PORT
}

// Forward is an active port forward.
type Forward struct {
	ID      int       `json:"id"`
	VM      string    `json:"vm"`
	Listen  string    `json:"listen"`
	Target  string    `json:"target"`
	Started time.Time `json:"started"`
}

// Port is a listening socket in a guest.
type Port struct {
	Proto   string `json:"proto"`
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	PID     int    `json:"pid,omitempty"`
	Process string `json:"process,omitempty"`
}

// Stats are a guest's load, memory and disk figures.
type Stats struct {
	Load1         float64     `json:"load1"`
	Load5         float64     `json:"load5"`
	Load15        float64     `json:"load15"`
	MemTotal      uint64      `json:"mem_total"`
	MemAvailable  uint64      `json:"mem_available"`
	Disks         []DiskUsage `json:"disks"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Hostname      string      `json:"hostname"`
}

// DiskUsage is one filesystem of a guest.
type DiskUsage struct {
	Path  string `json:"path"`
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"`
}

// SetVM is the body of PATCH /v1/vms/{name}; absent fields stay as they are.
type SetVM struct {
	VCPUs     *int  `json:"vcpus,omitempty"`
	MemoryMiB *int  `json:"memory_mib,omitempty"`
	NAT       *bool `json:"nat,omitempty"`
	// TTL deletes the VM that long from now ("off": never); AutoStop is
	// as in CreateVM.
	TTL      *string `json:"ttl,omitempty"`
	AutoStop *string `json:"auto_stop,omitempty"`
}
