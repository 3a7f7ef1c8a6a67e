package vm

import (
	"context"

	"banger/internal/agent"
	"banger/internal/store"
)

// guestOf is what guest access needs of v, running as rt.
func (s *Service) guestOf(v store.VM, rt *runtime) guestVM {
	return guestVM{ID: v.ID, Name: v.Name, IP: v.IP, AgentSocket: rt.AgentSocket, SSHSocket: rt.SSHSocket, Backend: s.Backends[v.Backend]}
}

// withAgent calls fn with a connection to the agent of the running VM
// called name, once the agent said it offers method.
func (s *Service) withAgent(ctx context.Context, name, method string, fn func(*agent.Client) error) error {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return err
	}
	rt := s.runs.get(v.ID)
	if rt == nil {
		return badRequest("VM %s is not running; start it with `banger vm start %s`", v.Name, v.Name)
	}
	return s.Guest.withAgent(ctx, s.guestOf(v, rt), method, fn)
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
