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
	"strings"
)

// Client talks to bangerd over its unix socket.
type Client struct {
	Socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
// maxReply bounds a JSON answer read from the daemon, which may be a
// remote peer (--host).
const maxReply = 64 << 20

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

// send does one request of e: req as its JSON body (none for Empty) to the
// path of e with args in its wildcards. A failed answer is an *Error.
func send[Req, Resp any](ctx context.Context, c *Client, e Endpoint[Req, Resp], req Req, query string, args ...string) (*http.Response, error) {
	path := e.URL(args...)
	var rd io.Reader
	if _, none := any(req).(Empty); !none {
		b, err := json.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("encode request of %s %s: %w", e.Method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, e.Method, "http://bangerd"+path+query, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	return c.do(hr)
}

// do sends hr. A daemon that does not answer is ErrDaemonUnreachable, and
// a failed answer (status 400 or more) is its *Error.
func (c *Client) do(hr *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(hr)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return nil, fmt.Errorf("%w (socket %s): %w", ErrDaemonUnreachable, c.Socket, opErr.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", hr.Method, hr.URL.EscapedPath(), err)
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

// call does a request of e and decodes its answer; an endpoint that
// answers with events is streamed, its events dropped.
func call[Req, Resp any](ctx context.Context, c *Client, e Endpoint[Req, Resp], req Req, args ...string) (Resp, error) {
	if e.Reply == ReplyEvents {
		return stream(ctx, c, e, req, nil, args...)
	}
	var out Resp
	resp, err := send(ctx, c, e, req, "", args...)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(&out); err != nil {
		return out, fmt.Errorf("decode answer of %s %s: %w", e.Method, e.URL(args...), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused; bounded
	return out, nil
}

// stream does a request of e, whose answer is a stream of events. Each
// progress, log or other event goes to onEvent; the result is returned.
func stream[Req, Resp any](ctx context.Context, c *Client, e Endpoint[Req, Resp], req Req, onEvent func(Event), args ...string) (Resp, error) {
	var out Resp
	resp, err := send(ctx, c, e, req, "", args...)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	what := e.Method + " " + e.URL(args...)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return out, fmt.Errorf("decode event of %s: %w", what, err)
		}
		switch ev.Type {
		case "result":
			if len(ev.Result) > 0 {
				if err := json.Unmarshal(ev.Result, &out); err != nil {
					return out, fmt.Errorf("decode result of %s: %w", what, err)
				}
			}
			return out, nil
		case "error":
			if ev.Error == nil {
				return out, &Error{Kind: KindFailed, Message: "operation failed without a message"}
			}
			return out, ev.Error
		default:
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read events of %s: %w", what, err)
	}
	return out, fmt.Errorf("%s: the daemon closed the stream before the operation finished (see the daemon log)", what)
}
