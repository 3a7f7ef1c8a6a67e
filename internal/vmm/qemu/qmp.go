package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// QMPError is an error reply from QEMU.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return fmt.Sprintf("qmp: %s: %s", e.Class, e.Desc) }

// QMPEvent is an asynchronous event QEMU sent while a command was pending.
type QMPEvent struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// QMPClient is a minimal client for the QEMU Machine Protocol. It is not safe
// for concurrent Execute calls; one caller at a time.
type QMPClient struct {
	conn   net.Conn
	dec    *json.Decoder
	mu     sync.Mutex
	nextID uint64
	events []QMPEvent
}

// qmpMessage is any message QEMU sends: greeting, reply or event.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *QMPError       `json:"error"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	ID     json.RawMessage `json:"id"`
}

// DialQMP connects to the QMP unix socket at path, reads the greeting and
// negotiates capabilities. ctx bounds the whole handshake.
func DialQMP(ctx context.Context, path string) (*QMPClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to qmp socket %s: %w", path, err)
	}
	c := &QMPClient{conn: conn, dec: json.NewDecoder(conn)}
	if err := c.handshake(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp handshake on %s: %w", path, err)
	}
	return c, nil
}

func (c *QMPClient) handshake(ctx context.Context) error {
	defer c.bind(ctx)()
	var greet qmpMessage
	if err := c.dec.Decode(&greet); err != nil {
		return fmt.Errorf("read greeting: %w", ctxErr(ctx, err))
	}
	if len(greet.QMP) == 0 {
		return errors.New("read greeting: first message is not a QMP greeting")
	}
	if _, err := c.execute(ctx, "qmp_capabilities", nil); err != nil {
		return err
	}
	return nil
}

// bind applies ctx's deadline to the connection and interrupts blocked I/O
// when ctx is cancelled. The returned function undoes it.
func (c *QMPClient) bind(ctx context.Context) func() {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		c.conn.SetDeadline(time.Time{})
	}
}

// ctxErr prefers the context's error over the I/O timeout it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	// The connection deadline can fire a moment before the context's own.
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// Execute runs one QMP command and returns its "return" value. Events that
// arrive before the reply are kept and can be read with Events.
func (c *QMPClient) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.bind(ctx)()
	return c.execute(ctx, command, args)
}

// SendFile hands QEMU a descriptor of f under name (QMP getfd, the
// descriptor passed with SCM_RIGHTS), for a later command that takes
// "fd:<name>" (migrate, migrate-incoming). QEMU then needs no right to
// open f's path: the daemon opened it.
func (c *QMPClient) SendFile(ctx context.Context, name string, f *os.File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.bind(ctx)()
	oob := unix.UnixRights(int(f.Fd()))
	_, err := c.send(ctx, "getfd", map[string]any{"fdname": name}, oob)
	runtime.KeepAlive(f)
	if err != nil {
		return fmt.Errorf("pass %s to qemu: %w", f.Name(), err)
	}
	return nil
}

func (c *QMPClient) execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	return c.send(ctx, command, args, nil)
}

// write sends one command line, with oob (ancillary data such as
// SCM_RIGHTS) when it is not nil.
func (c *QMPClient) write(b, oob []byte) error {
	if oob == nil {
		_, err := c.conn.Write(b)
		return err
	}
	uc, ok := c.conn.(*net.UnixConn)
	if !ok {
		return errors.New("passing a descriptor needs a unix socket")
	}
	n, oobn, err := uc.WriteMsgUnix(b, oob, nil)
	if err == nil && (n != len(b) || oobn != len(oob)) {
		err = fmt.Errorf("short write: %d of %d bytes, %d of %d control bytes", n, len(b), oobn, len(oob))
	}
	return err
}

func (c *QMPClient) send(ctx context.Context, command string, args any, oob []byte) (json.RawMessage, error) {
	c.nextID++
	id := fmt.Sprintf("banger-%d", c.nextID)
	req := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
		ID        string `json:"id"`
	}{command, args, id}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode qmp command %s: %w", command, err)
	}
	if err := c.write(append(b, '\n'), oob); err != nil {
		return nil, fmt.Errorf("send qmp command %s: %w", command, ctxErr(ctx, err))
	}
	for {
		var m qmpMessage
		if err := c.dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("read reply to qmp command %s: %w", command, ctxErr(ctx, err))
		}
		if m.Event != "" {
			c.events = append(c.events, QMPEvent{Event: m.Event, Data: m.Data})
			continue
		}
		var gotID string
		if len(m.ID) > 0 && json.Unmarshal(m.ID, &gotID) == nil && gotID != id {
			continue // reply to someone else's command
		}
		if m.Error != nil {
			return nil, fmt.Errorf("qmp command %s: %w", command, m.Error)
		}
		if m.Return == nil {
			return nil, fmt.Errorf("qmp command %s: reply has neither return nor error", command)
		}
		return m.Return, nil
	}
}

// Events returns and clears the events received so far.
func (c *QMPClient) Events() []QMPEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := c.events
	c.events = nil
	return ev
}

// Close closes the connection.
func (c *QMPClient) Close() error { return c.conn.Close() }
