package firecracker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as a fake firecracker (and jailer) when
// BANGER_FAKE_FC is set: Start launches it like the real thing, and it serves
// the API on --api-sock, recording each request to BANGER_FAKE_FC_RECORD.
// BANGER_FAKE_FC_MODE picks a misbehaviour:
//
//	exit              print an error and exit before creating the socket
//	nosocket          never create the socket
//	fault:<path>      answer PUT <path> with 400 and a fault_message
//	ignore-ctrlaltdel keep running after SendCtrlAltDel
func TestMain(m *testing.M) {
	if os.Getenv("BANGER_FAKE_FC") != "" {
		os.Exit(fakeFirecracker(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type recorded struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
	UID    int             `json:"uid"`
}

func argValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func fakeFirecracker(args []string) int {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("Firecracker v1.16.1")
		fmt.Println()
		fmt.Println("Supported snapshot data format versions: v1.0.0")
		return 0
	}
	mode := os.Getenv("BANGER_FAKE_FC_MODE")
	root := "" // the jail, when run as the jailer
	if exe := argValue(args, "--exec-file"); exe != "" {
		root = filepath.Join(argValue(args, "--chroot-base-dir"), filepath.Base(exe), argValue(args, "--id"), "root")
		if _, err := os.Stat(root); err != nil {
			fmt.Fprintln(os.Stderr, "fake jailer:", err)
			return 1
		}
	}
	inJail := func(p string) string { return filepath.Join(root, p) }
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "fake firecracker: bad config, giving up")
		return 1
	case "nosocket":
		time.Sleep(time.Minute)
		return 0
	}
	sock := argValue(args, "--api-sock")
	if sock == "" {
		fmt.Fprintln(os.Stderr, "fake firecracker: no --api-sock")
		return 2
	}
	l, err := net.Listen("unix", inJail(sock))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake firecracker:", err)
		return 1
	}
	var mu sync.Mutex
	rec, _ := os.OpenFile(os.Getenv("BANGER_FAKE_FC_RECORD"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	exit := make(chan int, 1)
	fault := func(w http.ResponseWriter, msg string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"fault_message": msg})
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		b, _ := json.Marshal(recorded{Method: r.Method, Path: r.URL.Path, Body: body, UID: os.Getuid()})
		rec.Write(append(b, '\n'))
		mu.Unlock()
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			json.NewEncoder(w).Encode(map[string]string{"app_name": "Firecracker", "id": argValue(args, "--id"), "state": "Not started", "vmm_version": "1.16.1"})
			return
		}
		if p, ok := strings.CutPrefix(mode, "fault:"); ok && r.URL.Path == p {
			fault(w, "The kernel file cannot be opened: No such file or directory (os error 2)")
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		// Like Firecracker: files it writes must exist, files it reads too.
		for _, k := range []string{"serial_out_path", "log_path", "metrics_path", "kernel_image_path", "initrd_path", "path_on_host"} {
			if p, ok := m[k].(string); ok && p != "" {
				if _, err := os.Stat(inJail(p)); err != nil {
					fault(w, k+": "+err.Error())
					return
				}
			}
		}
		if r.URL.Path == "/vsock" {
			if _, err := net.Listen("unix", inJail(m["uds_path"].(string))); err != nil {
				fault(w, "vsock: "+err.Error())
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
		if r.URL.Path == "/actions" && m["action_type"] == "SendCtrlAltDel" && mode != "ignore-ctrlaltdel" {
			exit <- 0
		}
	})
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	code := <-exit
	// Shutdown returns once the answer to the last request has gone out.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return code
}

// readRecord returns the requests the fake recorded.
func readRecord(t *testing.T, path string) []recorded {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read recorded requests: %v", err)
	}
	var out []recorded
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var r recorded
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}
