package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"banger/internal/kube/v1alpha1"
	"banger/internal/limit"
)

// maxWorkspace bounds a workspace archive from a git clone; it is
// streamed into the guest, never held whole.
const maxWorkspace = 1 << 30

// cloneTimeout bounds a git clone of a workspace.
const cloneTimeout = 5 * time.Minute

// LabelWorkspace must be "true" on a ConfigMap or Secret that a Sandbox
// names as its workspace: without it, anyone who may create Sandboxes
// could have the agent copy any Secret of their namespace into a VM.
const LabelWorkspace = "banger.dev/workspace"

// workspace is a workspace archive ready to copy: a stream and whether it
// is gzip-compressed. done waits for what makes the stream and removes
// what making it left on the node.
type workspace struct {
	r    io.Reader
	gz   bool
	done func() error
}

// permanentError is a workspace failure that no retry mends.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// workspaceError marks a failure while copying the workspace in.
type workspaceError struct{ err error }

func (e workspaceError) Error() string { return "workspace: " + e.err.Error() }
func (e workspaceError) Unwrap() error { return e.err }

// failureReason is the sandbox's reason for a command that failed with
// err.
func failureReason(err error) string {
	var w workspaceError
	if errors.As(err, &w) {
		return "WorkspaceFailed"
	}
	return "GuestUnreachable"
}

// copyWorkspace fetches sb's workspace and unpacks it in the guest; a few
// at a time per node (fetches), as each may be a clone.
func (a *Agent) copyWorkspace(ctx context.Context, sb *v1alpha1.Sandbox, c *ssh.Client) error {
	select {
	case a.fetches <- struct{}{}:
		defer func() { <-a.fetches }()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	ws, err := a.fetchWorkspace(ctx, sb)
	if err != nil {
		return workspaceError{err}
	}
	err = unpack(ctx, c, ws.r, ws.gz)
	if derr := ws.done(); err == nil {
		err = derr
	}
	if err != nil {
		return workspaceError{err}
	}
	return nil
}

// fetchWorkspace gets sb's workspace: the archive in its ConfigMap or
// Secret (which must carry LabelWorkspace), or a shallow clone of its git
// repository packed as a tar.
func (a *Agent) fetchWorkspace(ctx context.Context, sb *v1alpha1.Sandbox) (workspace, error) {
	src := sb.Spec.Workspace
	switch {
	case src.ConfigMap != nil:
		var cm corev1.ConfigMap
		if err := a.getSource(ctx, sb.Namespace, src.ConfigMap, "configmap", &cm); err != nil {
			return workspace{}, err
		}
		b, ok := cm.BinaryData[src.ConfigMap.Key]
		if s, found := cm.Data[src.ConfigMap.Key]; !ok && found {
			b, ok = []byte(s), true
		}
		if !ok {
			return workspace{}, permanent("configmap %s has no key %q", src.ConfigMap.Name, src.ConfigMap.Key)
		}
		return archive(b), nil
	case src.Secret != nil:
		var s corev1.Secret
		if err := a.getSource(ctx, sb.Namespace, src.Secret, "secret", &s); err != nil {
			return workspace{}, err
		}
		b, ok := s.Data[src.Secret.Key]
		if !ok {
			return workspace{}, permanent("secret %s has no key %q", src.Secret.Name, src.Secret.Key)
		}
		return archive(b), nil
	case src.Git != nil:
		return cloneWorkspace(ctx, *src.Git, a.GitSchemes, a.GitCredential)
	}
	return workspace{}, permanent("the workspace gives none of git, configMap or secret")
}

// getSource reads the ConfigMap or Secret of src into obj and checks that
// it is labelled for use as a workspace. One that does not exist (yet) is
// worth retrying; one without the label is not.
func (a *Agent) getSource(ctx context.Context, ns string, src *v1alpha1.TarballSource, kind string, obj client.Object) error {
	if err := a.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: src.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s: %w", kind, src.Name, err)
		}
		return fmt.Errorf("read %s %s: %w", kind, src.Name, err)
	}
	if obj.GetLabels()[LabelWorkspace] != "true" {
		return permanent("%s %s lacks the label %s=true that allows its use as a workspace", kind, src.Name, LabelWorkspace)
	}
	return nil
}

func archive(b []byte) workspace {
	return workspace{r: bytes.NewReader(b), gz: bytes.HasPrefix(b, []byte{0x1f, 0x8b}), done: func() error { return nil }}
}

// checkGitURL accepts a URL of one of schemes, without credentials in it.
func checkGitURL(raw string, schemes []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return permanent("workspace git url: %w", err)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return permanent("workspace git url %q: use one of %s", raw, strings.Join(schemes, ", "))
	}
	if u.User != nil {
		return permanent("workspace git url: no credentials in the URL; the node clones public repositories only")
	}
	if strings.HasPrefix(raw, "-") {
		return permanent("workspace git url %q: not a URL", raw)
	}
	return nil
}

// cloneWorkspace clones src (depth 1, at its ref) into a temporary
// directory and streams its tree from git archive. Only schemes are
// allowed (git's own protocol.allow, so redirects and submodules obey it
// too). git runs as cred when given (the agent runs it as nobody: a
// hostile repository or server meets a process that can read neither the
// agent's token nor the daemon's key), with no configuration of the
// node's and its output bounded.
func cloneWorkspace(ctx context.Context, src v1alpha1.GitSource, schemes []string, cred *syscall.Credential) (workspace, error) {
	if err := checkGitURL(src.URL, schemes); err != nil {
		return workspace{}, err
	}
	if strings.HasPrefix(src.Ref, "-") {
		return workspace{}, permanent("workspace git ref %q: not a ref", src.Ref)
	}
	dir, err := os.MkdirTemp("", "banger-node-clone-")
	if err != nil {
		return workspace{}, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			cleanup()
			return workspace{}, fmt.Errorf("clone dir for uid %d: %w", cred.Uid, err)
		}
	}
	args := []string{"-c", "protocol.allow=never"}
	for _, s := range schemes {
		args = append(args, "-c", "protocol."+s+".allow=always")
	}
	args = append(args, "clone", "--quiet", "--depth=1", "--no-tags")
	if src.Ref != "" {
		args = append(args, "--branch", src.Ref)
	}
	cctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	out := &limit.Tail{Max: 4096}
	clone := gitCmd(cctx, dir, cred, append(args, "--", src.URL, dir+"/src")...)
	clone.Stdout, clone.Stderr = out, out
	if err := clone.Run(); err != nil {
		cancel()
		cleanup()
		return workspace{}, fmt.Errorf("git clone %s: %w: %s", src.URL, err, bytes.TrimSpace([]byte(out.String())))
	}
	return archiveTree(cctx, cancel, dir, cred, src.URL, cleanup)
}

// archiveTree streams `git archive HEAD` of the clone in dir.
func archiveTree(ctx context.Context, cancel context.CancelFunc, dir string, cred *syscall.Credential, what string, cleanup func()) (workspace, error) {
	tail := &limit.Tail{Max: 4096}
	cmd := gitCmd(ctx, dir, cred, "-C", dir+"/src", "archive", "--format=tar", "HEAD")
	cmd.Stderr = tail
	pipe, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		cleanup()
		return workspace{}, fmt.Errorf("git archive of %s: %w", what, err)
	}
	done := func() error {
		err := cmd.Wait()
		cancel()
		cleanup()
		if err != nil {
			return fmt.Errorf("git archive of %s: %w: %s", what, err, tail)
		}
		return nil
	}
	return workspace{r: limit.Reader(pipe, maxWorkspace, "a workspace archive"), done: done}, nil
}

// gitCmd is git with no prompts, no system or user configuration, home
// in dir, and run as cred when given.
func gitCmd(ctx context.Context, dir string, cred *syscall.Credential, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ASKPASS=/bin/false"}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return cmd
}
