package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"banger/internal/kube/v1alpha1"
	"banger/internal/limit"
)

// maxWorkspace bounds a workspace archive from a git clone (it is held in
// memory while it is copied).
const maxWorkspace = 256 << 20

// cloneTimeout bounds a git clone of a workspace.
const cloneTimeout = 5 * time.Minute

// workspace is a workspace archive ready to copy: its bytes and whether
// they are gzip-compressed.
type workspace struct {
	r  io.Reader
	gz bool
}

// fetchWorkspace gets sb's workspace: the archive in its ConfigMap or
// Secret, or a shallow clone of its git repository packed as a tar.
func (a *Agent) fetchWorkspace(ctx context.Context, sb *v1alpha1.Sandbox) (workspace, error) {
	src := sb.Spec.Workspace
	switch {
	case src.ConfigMap != nil:
		var cm corev1.ConfigMap
		if err := a.Client.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: src.ConfigMap.Name}, &cm); err != nil {
			return workspace{}, fmt.Errorf("workspace configmap %s: %w", src.ConfigMap.Name, err)
		}
		b, ok := cm.BinaryData[src.ConfigMap.Key]
		if !ok {
			s, found := cm.Data[src.ConfigMap.Key]
			if !found {
				return workspace{}, fmt.Errorf("workspace configmap %s has no key %q", src.ConfigMap.Name, src.ConfigMap.Key)
			}
			b = []byte(s)
		}
		return archive(b), nil
	case src.Secret != nil:
		var s corev1.Secret
		if err := a.Client.Get(ctx, types.NamespacedName{Namespace: sb.Namespace, Name: src.Secret.Name}, &s); err != nil {
			return workspace{}, fmt.Errorf("workspace secret %s: %w", src.Secret.Name, err)
		}
		b, ok := s.Data[src.Secret.Key]
		if !ok {
			return workspace{}, fmt.Errorf("workspace secret %s has no key %q", src.Secret.Name, src.Secret.Key)
		}
		return archive(b), nil
	case src.Git != nil:
		return cloneWorkspace(ctx, *src.Git, a.GitSchemes)
	}
	return workspace{}, fmt.Errorf("the workspace gives none of git, configMap or secret")
}

func archive(b []byte) workspace {
	return workspace{r: bytes.NewReader(b), gz: bytes.HasPrefix(b, []byte{0x1f, 0x8b})}
}

// checkGitURL accepts a URL of one of schemes, without credentials in it.
func checkGitURL(raw string, schemes []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("workspace git url: %w", err)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("workspace git url %q: use one of %s", raw, strings.Join(schemes, ", "))
	}
	if u.User != nil {
		return fmt.Errorf("workspace git url: no credentials in the URL; the node clones public repositories only")
	}
	if strings.HasPrefix(raw, "-") {
		return fmt.Errorf("workspace git url %q: not a URL", raw)
	}
	return nil
}

// cloneWorkspace clones src (depth 1, at its ref) into a temporary
// directory and packs its tree with git archive. Only schemes are allowed
// (git's own protocol.allow, so redirects and submodules obey it too).
func cloneWorkspace(ctx context.Context, src v1alpha1.GitSource, schemes []string) (workspace, error) {
	if err := checkGitURL(src.URL, schemes); err != nil {
		return workspace{}, err
	}
	if strings.HasPrefix(src.Ref, "-") {
		return workspace{}, fmt.Errorf("workspace git ref %q: not a ref", src.Ref)
	}
	dir, err := os.MkdirTemp("", "banger-node-clone-")
	if err != nil {
		return workspace{}, err
	}
	defer os.RemoveAll(dir)
	args := []string{"-c", "protocol.allow=never"}
	for _, s := range schemes {
		args = append(args, "-c", "protocol."+s+".allow=always")
	}
	args = append(args, "clone", "--quiet", "--depth=1", "--no-tags")
	if src.Ref != "" {
		args = append(args, "--branch", src.Ref)
	}
	cctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	if out, err := gitCmd(cctx, append(args, "--", src.URL, dir+"/src")...).CombinedOutput(); err != nil {
		return workspace{}, fmt.Errorf("git clone %s: %w: %s", src.URL, err, bytes.TrimSpace(out))
	}
	buf := limit.NewBuffer(maxWorkspace, "a workspace archive", nil)
	cmd := gitCmd(cctx, "-C", dir+"/src", "archive", "--format=tar", "HEAD")
	tail := &limit.Tail{Max: 4096}
	cmd.Stdout, cmd.Stderr = buf, tail
	if err := cmd.Run(); err != nil {
		if buf.Err() != nil {
			err = buf.Err()
		}
		return workspace{}, fmt.Errorf("git archive of %s: %w: %s", src.URL, err, tail)
	}
	return workspace{r: bytes.NewReader(buf.Bytes())}, nil
}

// gitCmd is git with no prompts and no system or user configuration.
func gitCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ASKPASS=/bin/false")
	return cmd
}
