package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/vishvananda/netns"
)

// TestUIInABrowser drives the web UI in headless Chromium against a
// daemon in the test's namespace: it logs in with the token of `banger
// ui`, creates a VM through the form and sees it reach running without a
// reload, reads the guest's boot output in the Console tab, runs a
// command in the Shell tab, then stops and deletes the VM and sees the
// list empty. It saves a screenshot of each page in $BANGER_E2E_ARTIFACTS
// (default /tmp/banger-ui-shots).
//
// The UI listens on loopback inside the namespace; the test forwards the
// same port on the host's loopback into it, so the browser's Host header
// is the UI's own address.
func TestUIInABrowser(t *testing.T) {
	requireHost(t)
	browser := chromiumPath(t)
	shots := os.Getenv("BANGER_E2E_ARTIFACTS")
	if shots == "" {
		shots = "/tmp/banger-ui-shots"
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	fwd, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	addr := fwd.Addr().String()
	e := newEnv(t, "ui", func(*env) string { return fmt.Sprintf("ui_addr = %q\n", addr) })
	go forwardInto(t, fwd, e.netns, addr)
	login := strings.TrimSpace(e.ok("ui", "--no-open"))
	if !strings.HasPrefix(login, "http://"+addr+"/login?token=") {
		t.Fatalf("banger ui printed %q", login)
	}
	if code := httpStatus(t, "http://"+addr+"/"); code != 401 {
		t.Fatalf("the UI without a session answered %d, want 401", code)
	}

	ctx, cancel := browserContext(t, browser)
	defer cancel()
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			if err := chromedp.CaptureScreenshot(&png).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	const name = "e2e-ui"
	row := `tr[data-name="` + name + `"]`
	defer e.banger(context.Background(), true, "vm", "delete", name)
	run(t, ctx, "log in and see the VMs page", 30*time.Second,
		chromedp.Navigate(login),
		chromedp.WaitVisible(`#page-vms`),
		chromedp.WaitVisible(`#live.on`),
		shot("vms-empty"),
	)
	run(t, ctx, "create a VM through the form and see it running", 5*time.Minute,
		chromedp.Click(`#create summary`),
		chromedp.SendKeys(`#create-form input[name=name]`, name),
		chromedp.Click(`#create-form input[name=cold]`),
		chromedp.Click(`#create-submit`),
		chromedp.WaitVisible(row+` .state.running`),
		shot("vms-running"),
	)
	run(t, ctx, "see the guest's boot output in the console", 60*time.Second,
		chromedp.Click(row+` a.name`),
		chromedp.WaitVisible(`#panel-console .xterm-rows`),
		// The guest kernel's lines, "[    0.244698] ...".
		waitMatch(`#panel-console .xterm-rows`, regexp.MustCompile(`\[\s*\d+\.\d{6}\]`)),
		shot("vm-console"),
	)
	run(t, ctx, "run a command in the shell", 60*time.Second,
		chromedp.Click(`#tab-shell`),
		waitMatch(`#panel-shell .xterm-rows`, regexp.MustCompile(`[#$] *$`)),
		chromedp.Focus(`#panel-shell .xterm-helper-textarea`),
		// Typed text as an input method inserts it: chromedp's synthetic
		// key events reach xterm.js twice (keydown and char) per key.
		input.InsertText("echo ui-$((6*7))"), enter(),
		waitText(`#panel-shell .xterm-rows`, "ui-42"),
		// Ctrl-C interrupts a command in the guest.
		input.InsertText("sleep 600; echo not-interrupted"), enter(),
		chromedp.Sleep(time.Second),
		input.DispatchKeyEvent(input.KeyRawDown).WithKey("c").WithCode("KeyC").WithWindowsVirtualKeyCode(67).WithModifiers(input.ModifierCtrl),
		input.DispatchKeyEvent(input.KeyUp).WithKey("c").WithCode("KeyC").WithWindowsVirtualKeyCode(67).WithModifiers(input.ModifierCtrl),
		input.InsertText("echo after-$((1+1))"), enter(),
		waitText(`#panel-shell .xterm-rows`, "after-2"),
		shot("vm-shell"),
		chromedp.Click(`#tab-ports`),
		chromedp.WaitVisible(`#ports-refresh`),
		shot("vm-ports"),
		chromedp.Click(`#tab-workspace`),
		chromedp.WaitVisible(`#ws-none`),
		shot("vm-workspace"),
		// The Logs tab lists the VM's operations: its create succeeded.
		chromedp.Click(`#tab-logs`),
		waitText(`#log-rows`, "vm create"),
		waitText(`#log-rows`, "succeeded"),
		shot("vm-logs"),
	)
	run(t, ctx, "the stats tab, the VM's chart and the pages at phone size", 90*time.Second,
		chromedp.Click(`#tab-stats`),
		waitMatch(`#stats-text`, regexp.MustCompile(`memory .* used of`)),
		shot("vm-stats"),
		chromedp.Navigate("http://"+addr+"/#/"),
		// Uptime comes from the agent's stats, pushed on the event stream.
		waitMatch(row+` .uptime`, regexp.MustCompile(`\d+s$`)),
		chromedp.Sleep(5*time.Second), // a few more samples for the chart
		shot("vms-stats"),
		chromedp.Navigate("http://"+addr+"/#/host"),
		chromedp.WaitVisible(`#host-checks li`),
		shot("host"),
		chromedp.Navigate("http://"+addr+"/#/images"),
		chromedp.WaitVisible(`#image-rows tr`),
		shot("images"),
		chromedp.Navigate("http://"+addr+"/#/"),
		chromedp.WaitVisible(row),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1)),
		shot("vms-phone"),
		chromedp.EmulateViewport(1280, 800, chromedp.EmulateScale(1)),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
		shot("vms-dark"),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}),
	)
	run(t, ctx, "stop and delete the VM and see the list empty", 2*time.Minute,
		chromedp.Click(row+` button[data-action=stop]`),
		chromedp.WaitVisible(row+` .state.stopped`),
		chromedp.Click(row+` button[data-action=delete]`),
		chromedp.WaitVisible(`#confirm-ok`),
		chromedp.Click(`#confirm-ok`),
		chromedp.WaitNotPresent(row),
		chromedp.WaitVisible(`#vm-empty`),
		shot("vms-deleted"),
	)
	for _, v := range e.list() {
		if v.Name == name {
			t.Errorf("%s is still listed after the UI deleted it", name)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// chromiumPath finds Debian's chromium (scripts/deps.sh --dev installs it).
func chromiumPath(t *testing.T) string {
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("the browser test needs Chromium: run `scripts/deps.sh --dev` (Debian's chromium package)")
	return ""
}

// browserContext starts headless Chromium at 1280×800.
func browserContext(t *testing.T, path string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root, Chromium refuses its sandbox
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("force-prefers-reduced-motion", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp reports CDP events it does not know as errors; they are
	// not the page's.
	quiet := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled") {
			t.Log(msg)
		}
	}
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithErrorf(quiet))
	if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(1280, 800, 1, false)); err != nil {
		cancelB()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() { cancelB(); cancelA() }
}

// enter presses Enter in the focused element.
func enter() chromedp.Action {
	return chromedp.Tasks{
		input.DispatchKeyEvent(input.KeyRawDown).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13),
		input.DispatchKeyEvent(input.KeyUp).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13),
	}
}

// run runs the actions of one step within timeout, failing the test with
// the step's name and the page's text.
func run(t *testing.T, ctx context.Context, step string, timeout time.Duration, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var text string
		tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
		_ = chromedp.Run(tctx, chromedp.Text(`body`, &text, chromedp.ByQuery))
		tcancel()
		t.Fatalf("%s: %v\nthe page shows:\n%s", step, err, lastLines(text, 40))
	}
}

// waitText waits until the text of sel contains want.
func waitText(sel, want string) chromedp.Action {
	return waitMatch(sel, regexp.MustCompile(regexp.QuoteMeta(want)))
}

// waitMatch waits until the text of sel (one of its lines) matches re.
func waitMatch(sel string, re *regexp.Regexp) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var text string
		for {
			if err := chromedp.Text(sel, &text, chromedp.ByQuery).Do(ctx); err == nil {
				for _, line := range strings.Split(text, "\n") {
					if re.MatchString(strings.TrimRight(line, " \u00a0")) {
						return nil
					}
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never matched %s (it showed %q): %w", sel, re, lastLines(text, 5), ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

// httpStatus is the status of a GET of url from the host.
func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// forwardInto accepts on ln (host loopback) and connects each client to
// addr inside the network namespace ns, until ln is closed.
func forwardInto(t *testing.T, ln net.Listener, ns, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			g, err := dialIn(ns, addr)
			if err != nil {
				t.Logf("forward into %s: %v", ns, err)
				return
			}
			defer g.Close()
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = io.Copy(g, c); g.Close() })
			_, _ = io.Copy(c, g)
			c.Close()
			wg.Wait()
		}()
	}
}

// dialIn connects to addr from inside the network namespace name.
func dialIn(name, addr string) (c net.Conn, err error) {
	if nerr := withNetns(name, func() { c, err = net.DialTimeout("tcp", addr, 5*time.Second) }); nerr != nil {
		return nil, nerr
	}
	return c, err
}

// withNetns runs fn on a thread inside the network namespace name, so
// that the sockets it makes live there.
func withNetns(name string, fn func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	defer netns.Set(orig)
	fn()
	return nil
}
