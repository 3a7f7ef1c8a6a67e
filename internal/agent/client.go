package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"banger/internal/limit"
)

// MaxLine is the longest line the host accepts from an agent. A longer one
// fails the call and the connection: the agent is on the guest's side, and
// a line without end must not make the daemon buffer without bound.
const MaxLine = 1 << 20

// Client calls the guest agent over a connected stream.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	mu   sync.Mutex
	next uint64
	// broken is set when a line passed MaxLine: the rest of it is still
	// on the stream, so the connection is of no further use.
	broken error
}

// Dial connects to the host side of the agent channel (a unix socket).
func Dial(ctx context.Context, socket string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to agent socket %s: %w", socket, err)
	}
	return NewClient(c), nil
}

// NewClient wraps a connected stream. Request ids start at a random
// number: the channel may still hold answers to an earlier connection's
// requests (the port outlives connections, and a restored guest may answer
// what was asked of its template), and those must never match.
func NewClient(c net.Conn) *Client {
	return &Client{conn: c, r: bufio.NewReader(c), next: rand.Uint64() >> 1}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call sends one request and waits for its response, skipping stale answers.
func (c *Client) Call(ctx context.Context, method string, out any) error {
	return c.CallParams(ctx, method, nil, out)
}

// CallParams is Call with params (nil: none).
func (c *Client) CallParams(ctx context.Context, method string, params, out any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("agent %s: %w", method, c.broken)
	}
	c.next++
	id := c.next
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.conn.SetDeadline(deadline)
	req := Request{ID: id, Method: method}
	if params != nil {
		p, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("agent %s: encode params: %w", method, err)
		}
		req.Params = p
	}
	b, _ := json.Marshal(req)
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("agent %s: %w", method, err)
	}
	for {
		line, err := limit.ReadLine(c.r, MaxLine, "a line from the guest agent")
		if errors.Is(err, limit.ErrExceeded) {
			c.broken = err
			_ = c.conn.Close()
		}
		if err != nil {
			return fmt.Errorf("agent %s: %w", method, err)
		}
		var resp Response
		if json.Unmarshal(line, &resp) != nil || resp.ID != id {
			continue
		}
		if resp.Error != "" {
			return fmt.Errorf("agent %s: %s", method, resp.Error)
		}
		if out != nil {
			if err := json.Unmarshal(resp.Result, out); err != nil {
				return fmt.Errorf("agent %s: decode: %w", method, err)
			}
		}
		return nil
	}
}

// Hello asks the agent for its protocol version and fails when the agent is
// older than this daemon understands.
func (c *Client) Hello(ctx context.Context) (Hello, error) {
	var h Hello
	if err := c.Call(ctx, "hello", &h); err != nil {
		return h, err
	}
	if h.Protocol < ProtocolVersion {
		return h, &TooOldError{Have: h.Protocol, Want: ProtocolVersion}
	}
	return h, nil
}

// Ports lists the guest's listening TCP and UDP sockets, sorted by port.
func (c *Client) Ports(ctx context.Context) ([]Port, error) {
	var p []Port
	if err := c.Call(ctx, "ports", &p); err != nil {
		return nil, err
	}
	return p, nil
}

// Stats returns the guest's load, memory, disk and uptime figures.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := c.Call(ctx, "stats", &s)
	return s, err
}

// TooOldError says the guest's agent speaks an older protocol than the
// daemon needs.
type TooOldError struct{ Have, Want int }

func (e *TooOldError) Error() string {
	return fmt.Sprintf("the image's banger-agent speaks protocol %d but this bangerd needs %d: rebuild the image (banger image build --force)", e.Have, e.Want)
}

// Shutdown asks an agent that offers "shutdown" (PID 1 agents) to power
// the guest off cleanly; it answers before it starts.
func (c *Client) Shutdown(ctx context.Context) error { return c.Call(ctx, "shutdown", nil) }
