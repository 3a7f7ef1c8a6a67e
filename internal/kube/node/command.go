package node

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The guest side of a sandbox's command. It runs detached from any SSH
// session, in its own session (setsid), so that it outlives the node
// agent: a restarted agent finds it by its state directory and waits again.
// The directory is made once (mkdir is the lock), so a command is never
// started twice.
const (
	// stateDir holds the command's output ("out") and, once it has
	// exited, its exit code ("exit", renamed into place whole).
	stateDir = "/var/lib/banger-sandbox"
	// WorkspaceDir is where a sandbox's workspace is unpacked, and where
	// its command runs when it has one.
	WorkspaceDir = "/root/workspace"
)

// launchScript starts "$@" once and prints "started" or "already".
const launchScript = `d=` + stateDir + `
mkdir -p /var/lib
if ! mkdir "$d" 2>/dev/null; then echo already; exit 0; fi
cd ` + WorkspaceDir + ` 2>/dev/null || cd /root || cd /
run='"$@" >"$0/out" 2>&1 </dev/null; echo $? >"$0/exit.tmp"; mv "$0/exit.tmp" "$0/exit"'
if command -v setsid >/dev/null 2>&1; then
	setsid sh -c "$run" "$d" "$@" &
else
	sh -c "$run" "$d" "$@" &
fi
echo started
`

// waitScript waits up to $1 seconds for the command to exit, then prints
// "exit N" and the tail of its output, or "running".
const waitScript = `d=` + stateDir + `
i=0
while [ ! -e "$d/exit" ] && [ "$i" -lt "$1" ]; do sleep 1; i=$((i+1)); done
if [ ! -e "$d/exit" ]; then echo running; exit 0; fi
echo "exit $(cat "$d/exit")"
tail -c ` + outputTailBytes + ` "$d/out"
`

// unpackScript unpacks a tar archive from stdin into the workspace,
// unless the command was started already; $1 is "z" for gzip.
const unpackScript = `[ -d ` + stateDir + ` ] && exit 0
mkdir -p ` + WorkspaceDir + ` && tar -x"$1"f - -C ` + WorkspaceDir

const outputTailBytes = "4096"

// waitStep is how long one wait in the guest lasts before the agent asks
// again.
const waitStep = 20

// exited is what waitScript found.
type exited struct {
	done   bool
	code   int
	output string
}

// launch starts command in the guest unless it was started before.
func launch(ctx context.Context, c *ssh.Client, command []string) error {
	out, code, err := runScript(ctx, c, launchScript, nil, command...)
	if err != nil {
		return fmt.Errorf("start the command: %w", err)
	}
	if code != 0 || (!strings.HasPrefix(out, "started") && !strings.HasPrefix(out, "already")) {
		return fmt.Errorf("start the command: the guest said %q (exit %d)", strings.TrimSpace(out), code)
	}
	return nil
}

// launched reports whether the command was started already.
func launched(ctx context.Context, c *ssh.Client) (bool, error) {
	_, code, err := runScript(ctx, c, `[ -d `+stateDir+` ]`, nil)
	if err != nil {
		return false, fmt.Errorf("look for the command: %w", err)
	}
	return code == 0, nil
}

// waitExit waits up to waitStep seconds for the command to exit.
func waitExit(ctx context.Context, c *ssh.Client) (exited, error) {
	out, code, err := runScript(ctx, c, waitScript, nil, strconv.Itoa(waitStep))
	if err != nil {
		return exited{}, fmt.Errorf("wait for the command: %w", err)
	}
	if code != 0 {
		return exited{}, fmt.Errorf("wait for the command: the guest script exited %d: %q", code, out)
	}
	return parseWait(out)
}

func parseWait(out string) (exited, error) {
	first, rest, _ := strings.Cut(out, "\n")
	if first == "running" {
		return exited{}, nil
	}
	v, ok := strings.CutPrefix(first, "exit ")
	if !ok {
		return exited{}, fmt.Errorf("wait for the command: unexpected answer %q", first)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 255 {
		return exited{}, fmt.Errorf("wait for the command: bad exit code %q", v)
	}
	return exited{done: true, code: n, output: rest}, nil
}

// unpack copies a tar archive (gzip-compressed when gz) into the guest's
// workspace.
func unpack(ctx context.Context, c *ssh.Client, archive io.Reader, gz bool) error {
	z := ""
	if gz {
		z = "z"
	}
	out, code, err := runScript(ctx, c, unpackScript, archive, z)
	if err != nil {
		return fmt.Errorf("unpack the workspace: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("unpack the workspace: tar exited %d: %s", code, strings.TrimSpace(out))
	}
	return nil
}
