package sshconfig

import (
	"strings"

	"banger/internal/shquote"
)

// ProxyCommand is the ssh ProxyCommand that reaches VM name over its agent:
// `banger vm connect --socket SOCKET NAME`, with bin the banger CLI and
// socket the daemon's. ssh runs a ProxyCommand with the user's shell, so
// this is the one place banger hands the local shell a command line: each
// word is quoted for it, and '%' is doubled because ssh expands %-tokens
// there. The result serves as an ssh_config value and as `-o
// ProxyCommand=` alike.
func ProxyCommand(bin, socket, name string) string {
	return strings.ReplaceAll(shquote.Join(bin, "vm", "connect", "--socket", socket, name), "%", "%%")
}
