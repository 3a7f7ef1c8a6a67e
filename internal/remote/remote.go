// Package remote reaches a bangerd on another machine over ssh, as
// DOCKER_HOST=ssh:// does: the client runs `ssh user@host banger system
// dial-stdio`, whose stdin and stdout are joined to the remote daemon's
// socket, and speaks the daemon's HTTP API over that pipe.
package remote

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
)

// Host is a remote daemon's ssh address: ssh://[user@]host[:port].
type Host struct {
	User string // empty: the ssh config's or the local user
	Addr string // a host name, an address or an ssh config alias
	Port int    // 0: the ssh config's or 22
}

var (
	userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
	addrRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}$`)
)

// Parse reads s as ssh://[user@]host[:port]. Nothing that ssh could take
// for an option (a leading '-') or a shell could expand gets through.
func Parse(s string) (Host, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Host{}, fmt.Errorf("host %q: %w", s, err)
	}
	if u.Scheme != "ssh" {
		return Host{}, fmt.Errorf("host %q: only ssh://[user@]host[:port] is supported", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Host{}, fmt.Errorf("host %q: no path, query or fragment allowed", s)
	}
	h := Host{Addr: u.Hostname(), User: u.User.Username()}
	if _, hasPass := u.User.Password(); hasPass {
		return Host{}, errors.New("host: put no password in the URL; use an ssh key or agent")
	}
	if !addrRE.MatchString(h.Addr) {
		return Host{}, fmt.Errorf("host %q: invalid host name", s)
	}
	if h.User != "" && !userRE.MatchString(h.User) {
		return Host{}, fmt.Errorf("host %q: invalid user name", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Host{}, fmt.Errorf("host %q: invalid port", s)
		}
		h.Port = n
	}
	return h, nil
}

// String is h as a URL.
func (h Host) String() string {
	s := "ssh://"
	if h.User != "" {
		s += h.User + "@"
	}
	s += h.Addr
	if h.Port != 0 {
		s += ":" + strconv.Itoa(h.Port)
	}
	return s
}

// destination is ssh's [user@]host argument.
func (h Host) destination() string {
	if h.User != "" {
		return h.User + "@" + h.Addr
	}
	return h.Addr
}

// SSHArgs is the ssh client's argv (without "ssh") that runs command on h.
// opts go before the destination (e.g. "-t"); command is one string for
// the remote shell, already quoted by the caller (see shquote.Join).
func (h Host) SSHArgs(opts []string, command string) []string {
	args := []string{"-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15"}
	if h.Port != 0 {
		args = append(args, "-p", strconv.Itoa(h.Port))
	}
	args = append(args, opts...)
	return append(args, "--", h.destination(), command)
}

// DialCommand is what the client runs on h to reach its daemon.
const DialCommand = "banger system dial-stdio"
