package node

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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

// launchScript starts "$@" once and prints "started" or "already"; it
// exits 3 when the state directory cannot be made. The wrapper's pid goes
// in "pid", so that a wait can tell a command that runs from one that is
// gone without an exit code.
const launchScript = `d=` + stateDir + `
mkdir -p /var/lib
if ! mkdir "$d" 2>/dev/null; then
	if [ -d "$d" ]; then echo already; exit 0; fi
	echo "cannot make $d"; exit 3
fi
cd ` + WorkspaceDir + ` 2>/dev/null || cd /root || cd /
run='"$@" >"$0/out" 2>&1 </dev/null; echo $? >"$0/exit.tmp"; mv "$0/exit.tmp" "$0/exit"'
if command -v setsid >/dev/null 2>&1; then
	setsid sh -c "$run" "$d" "$@" &
else
	sh -c "$run" "$d" "$@" &
fi
echo $! >"$d/pid"
echo started
`

// waitScript waits up to $1 seconds for the command to exit, then prints
// "exit N" and the tail of its output, "running", or "lost" when its
// wrapper is gone and left no exit code (the guest rebooted, or someone
// killed it).
const waitScript = `d=` + stateDir + `
i=0
while [ ! -e "$d/exit" ] && [ "$i" -lt "$1" ]; do sleep 1; i=$((i+1)); done
if [ ! -e "$d/exit" ]; then
	if [ -s "$d/pid" ] && ! kill -0 "$(cat "$d/pid")" 2>/dev/null && [ ! -e "$d/exit" ]; then echo lost; exit 0; fi
	echo running; exit 0
fi
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

// exited is what waitScript found: the command exited (done), or it is
// gone without an exit code (lost).
type exited struct {
	done   bool
	lost   bool
	code   int
	output string
}

// The deadlines of the guest scripts: one wait step and some, a minute
// for the quick ones, and ten for copying a workspace in.
const (
	waitTimeout   = (waitStep + 40) * time.Second
	scriptTimeout = time.Minute
	unpackTimeout = 10 * time.Minute
)

// launch starts command in the guest unless it was started before.
func launch(ctx context.Context, c *ssh.Client, command []string) error {
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
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
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	_, code, err := runScript(ctx, c, `[ -d `+stateDir+` ]`, nil)
	if err != nil {
		return false, fmt.Errorf("look for the command: %w", err)
	}
	return code == 0, nil
}

// waitExit waits up to waitStep seconds for the command to exit.
func waitExit(ctx context.Context, c *ssh.Client) (exited, error) {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
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
	switch first {
	case "running":
		return exited{}, nil
	case "lost":
		return exited{lost: true}, nil
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
	ctx, cancel := context.WithTimeout(ctx, unpackTimeout)
	defer cancel()
	out, code, err := runScript(ctx, c, unpackScript, archive, z)
	if err != nil {
		return fmt.Errorf("unpack the workspace: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("unpack the workspace: tar exited %d: %s", code, strings.TrimSpace(out))
	}
	return nil
}
