package vm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"banger/internal/agent"
	"banger/internal/store"
	"banger/internal/vmm"
)

// waitReady waits for the guest agent to answer (the guest has booted and
// its network is configured), then for SSH, pinning the guest's host key.
func (s *Service) waitReady(ctx context.Context, v store.VM, exited <-chan struct{}) error {
	timeout := s.BootTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rt := s.agentSocket(v.ID)
	var last error
	for {
		h, err := s.hello(actx, v, rt)
		if err == nil {
			s.Log.InfoContext(ctx, "guest agent ready", "vm", v.Name, "agent", h.Version, "protocol", h.Protocol)
			break
		}
		var old *agent.TooOldError
		if errors.As(err, &old) {
			return err
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("the VM's process exited during boot")
		case <-actx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the guest agent did not answer within %s (last error: %v); is banger-agent in the image?", timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return s.waitSSH(ctx, v, exited)
}

func (s *Service) agentSocket(id string) string { return s.runDir(id) + "/agent.sock" }

// dialAgent connects to a VM's agent through its backend's channel.
func (s *Service) dialAgent(ctx context.Context, v store.VM, socket string) (*agent.Client, error) {
	if d, ok := s.backendOf(v).(vmm.AgentDialer); ok {
		conn, err := d.DialAgent(ctx, socket)
		if err != nil {
			return nil, fmt.Errorf("connect to the guest agent: %w", err)
		}
		return agent.NewClient(conn), nil
	}
	return agent.Dial(ctx, socket)
}

func (s *Service) hello(ctx context.Context, v store.VM, socket string) (agent.Hello, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := s.dialAgent(cctx, v, socket)
	if err != nil {
		return agent.Hello{}, err
	}
	defer c.Close()
	return c.Hello(cctx)
}

// withAgent connects to a running VM's agent and checks that it offers
// method.
func (s *Service) withAgent(ctx context.Context, name, method string, fn func(*agent.Client) error) error {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return err
	}
	rt := s.runtimeOf(v.ID)
	if rt == nil {
		return badRequest("VM %s is not running; start it with `banger vm start %s`", v.Name, v.Name)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := s.dialAgent(cctx, v, rt.AgentSocket)
	if err != nil {
		return fmt.Errorf("VM %s: %w", v.Name, err)
	}
	defer c.Close()
	h, err := c.Hello(cctx)
	if err != nil {
		return fmt.Errorf("VM %s: %w", v.Name, err)
	}
	if !h.Supports(method) {
		return fmt.Errorf("VM %s: its banger-agent (%s) does not offer %q; rebuild the image with `banger image build --force`", v.Name, h.Version, method)
	}
	return fn(c)
}

// Ports lists the guest's listening sockets.
func (s *Service) Ports(ctx context.Context, name string) ([]agent.Port, error) {
	var out []agent.Port
	err := s.withAgent(ctx, name, "ports", func(c *agent.Client) (err error) {
		out, err = c.Ports(ctx)
		return err
	})
	return out, err
}

// Stats returns the guest's load, memory and disk figures.
func (s *Service) Stats(ctx context.Context, name string) (agent.Stats, error) {
	var out agent.Stats
	err := s.withAgent(ctx, name, "stats", func(c *agent.Client) (err error) {
		out, err = c.Stats(ctx)
		return err
	})
	return out, err
}
