package guestssh

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// stdio is how a session's process is connected: the parent's ends that
// carry stdin and output, and the child's ends to close once it started.
type stdio struct {
	stdin           io.WriteCloser
	closeStdinOnEOF bool // pipes pass EOF on; a terminal has no EOF to pass
	outputs         []output
	child           []*os.File
	parent          []*os.File
}

type output struct {
	w io.Writer
	r *os.File
}

func (s *stdio) closeChildEnds() {
	for _, f := range s.child {
		f.Close()
	}
}

func (s *stdio) closeParentEnds() {
	for _, f := range s.parent {
		f.Close()
	}
}

// attachPipes gives cmd three pipes, so stdout and stderr stay apart, and
// puts it in its own process group so signals reach its children too.
func attachPipes(cmd *exec.Cmd, stdout, stderr io.Writer) (*stdio, error) {
	st := &stdio{closeStdinOnEOF: true}
	var fds [3][2]*os.File
	for i := range fds {
		r, w, err := os.Pipe()
		if err != nil {
			st.closeChildEnds()
			st.closeParentEnds()
			return nil, fmt.Errorf("create pipe: %w", err)
		}
		fds[i] = [2]*os.File{r, w}
		if i == 0 {
			st.child, st.parent = append(st.child, r), append(st.parent, w)
		} else {
			st.child, st.parent = append(st.child, w), append(st.parent, r)
		}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = fds[0][0], fds[1][1], fds[2][1]
	st.stdin = fds[0][1]
	st.outputs = []output{{stdout, fds[1][0]}, {stderr, fds[2][0]}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return st, nil
}
