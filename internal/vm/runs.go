package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/vmm"
)

// runtime is what the daemon knows about a running VM. It is mirrored in
// the VM's handles.json so that a restarted daemon finds it again.
type runtime struct {
	Handle vmm.Handle `json:"handle"`
	// done closes when this run ends; forwards to the VM end with it.
	done        chan struct{}
	Tap         string `json:"tap"`
	AgentSocket string `json:"agent_socket"`
	// SSHSocket is the host end of the agent's SSH channel, when the
	// backend offers one (vmm.SSHDialer).
	SSHSocket string `json:"ssh_socket,omitempty"`
	// ViaAgent says the guest is reached over its agent's SSH channel
	// (ssh is the daemon's connection there, dialled on first use), not
	// over the network to its sshd.
	ViaAgent  bool      `json:"via_agent,omitempty"`
	ssh       *sshLink  // guarded by the registry's lock
	IP        string    `json:"ip"`
	NAT       bool      `json:"nat"`
	StartedAt time.Time `json:"started_at"`
	stopping  bool
	console   *console // the drain of its console pipe, if it has one
}

// attachment is the run's place on the host network.
func (rt *runtime) attachment() attachment {
	ip, _ := netip.ParseAddr(rt.IP)
	return attachment{Tap: rt.Tap, IP: ip, NAT: rt.NAT}
}

func handlesPath(dir string) string { return filepath.Join(dir, "handles.json") }

func writeHandles(dir string, rt *runtime) error {
	return atomicfile.WriteJSON(handlesPath(dir), rt, 0o600)
}

func readHandles(dir string) (*runtime, error) {
	b, err := os.ReadFile(handlesPath(dir))
	if err != nil {
		return nil, err
	}
	var rt runtime
	if err := json.Unmarshal(b, &rt); err != nil {
		return nil, fmt.Errorf("parse %s: %w", handlesPath(dir), err)
	}
	return &rt, nil
}

// registry holds the running VMs and the goroutines that watch their VMM
// processes. Start and Reconcile add to it; close stops the watchers (the
// VMs keep running) and waits for them. The zero registry is ready to use.
type registry struct {
	mu      sync.Mutex
	running map[string]*runtime
	ctx     context.Context // ends at close
	cancel  context.CancelFunc
	closed  bool
	wg      sync.WaitGroup
}

func (r *registry) get(id string) *runtime {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[id]
}

func (r *registry) add(id string, rt *runtime) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running = map[string]*runtime{}
	}
	if rt.done == nil {
		rt.done = make(chan struct{})
	}
	r.running[id] = rt
}

// remove forgets rt, if it is still id's run, and closes its done channel.
func (r *registry) remove(id string, rt *runtime) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[id] == rt {
		delete(r.running, id)
	}
	if rt.done != nil {
		close(rt.done)
		rt.done = nil
	}
	if rt.ssh != nil {
		rt.ssh.close()
		rt.ssh = nil
	}
}

// link returns rt's connection to its agent, made by mk on first use; nil
// when the run is not reached over its agent.
func (r *registry) link(rt *runtime, mk func() *sshLink) *sshLink {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !rt.ViaAgent {
		return nil
	}
	if rt.ssh == nil {
		rt.ssh = mk()
	}
	return rt.ssh
}

// setStopping marks rt as being stopped on purpose, so that its watcher
// leaves the cleanup to the stop.
func (r *registry) setStopping(rt *runtime, stopping bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt.stopping = stopping
}

// isCurrent says whether rt is still id's run and not being stopped.
func (r *registry) isCurrent(id string, rt *runtime) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[id] == rt && !rt.stopping
}

func (r *registry) setNAT(rt *runtime, nat bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt.NAT = nat
}

// spawn runs fn on a goroutine that close waits for; fn gets a context that
// ends at close. After close it does nothing.
func (r *registry) spawn(fn func(ctx context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.ctx == nil {
		r.ctx, r.cancel = context.WithCancel(context.Background())
	}
	r.wg.Add(1)
	go func(ctx context.Context) {
		defer r.wg.Done()
		fn(ctx)
	}(r.ctx)
}

// exitOf returns a channel that closes when h's process exits. It is never
// closed when the registry closes first.
func (r *registry) exitOf(b vmm.VMM, h vmm.Handle) <-chan struct{} {
	exited := make(chan struct{})
	r.spawn(func(ctx context.Context) {
		if err := b.Wait(ctx, h); err != nil && ctx.Err() != nil {
			return // the registry closed; the process may still run
		}
		close(exited)
	})
	return exited
}

// watch calls onExit when exited closes, unless the registry closes first.
func (r *registry) watch(exited <-chan struct{}, onExit func()) {
	r.spawn(func(ctx context.Context) {
		select {
		case <-exited:
			onExit()
		case <-ctx.Done():
		}
	})
}

// close stops the watchers and waits until they have returned.
func (r *registry) close() {
	r.mu.Lock()
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
	for _, rt := range r.running {
		rt.console.detach()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
