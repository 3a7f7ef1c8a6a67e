package api

import "time"

// WarmImage asks for a snapshot (template) of an image in a VM shape;
// zero values take the VM defaults.
type WarmImage struct {
	VCPUs     int    `json:"vcpus,omitempty"`
	MemoryMiB int    `json:"memory_mib,omitempty"`
	Init      string `json:"init,omitempty"` // "agent", "systemd"; empty: the image's
}

// Snapshot is one template new VMs of its image and shape restore from.
type Snapshot struct {
	Key         string    `json:"key"`
	Image       string    `json:"image"`
	Backend     string    `json:"backend"`
	VCPUs       int       `json:"vcpus"`
	MemoryMiB   int       `json:"memory_mib"`
	Created     time.Time `json:"created"`
	BootSeconds float64   `json:"boot_seconds"`
	Dir         string    `json:"dir"`
	Init        string    `json:"init,omitempty"`
}
