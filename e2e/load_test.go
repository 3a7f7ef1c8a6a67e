package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentCreatesLeaveNothing (issue 8, item 14) runs 20 `vm create
// --no-start` at once through the real daemon, store and disk tools: 20
// distinct names, addresses and MACs, no error. Then 20 concurrent
// create/delete cycles, after which nothing is left (the leak count of the
// crash suite).
func TestConcurrentCreatesLeaveNothing(t *testing.T) {
	const n = 20
	e := newCrashEnv(t)
	outs, codes := make([]string, n), make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			outs[i], codes[i] = e.banger(context.Background(), true, "vm", "create", "--no-start", "--image", "bb", "--nat")
		})
	}
	wg.Wait()
	errs := 0
	for i := range n {
		if codes[i] != 0 {
			errs++
			t.Errorf("create %d: exit %d: %s", i, codes[i], outs[i])
		}
	}
	vms := e.list()
	seen, collisions := map[string]bool{}, 0
	for _, v := range vms {
		for _, k := range []string{"name " + v.Name, "ip " + v.IP, "mac " + v.MAC} {
			if seen[k] {
				collisions++
				t.Errorf("%s is shared", k)
			}
			seen[k] = true
		}
	}
	if len(vms) != n {
		t.Errorf("%d VMs listed after %d creates", len(vms), n)
	}
	t.Logf("%d concurrent creates: %d errors, %d collisions", n, errs, collisions)
	for _, v := range vms {
		wg.Go(func() { e.ok("vm", "delete", v.Name) })
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("cycle-%d", i)
			out, code := e.banger(context.Background(), true, "vm", "create", "--no-start", "--image", "bb", "--name", name)
			if code == 0 {
				out, code = e.banger(context.Background(), true, "vm", "delete", name)
			}
			if code != 0 {
				t.Errorf("cycle %d: exit %d: %s", i, code, strings.TrimSpace(out))
			}
		})
	}
	wg.Wait()
	l := e.leaks()
	t.Logf("%d concurrent create/delete cycles: %d leaks %v", n, len(l), l)
	if len(l) > 0 || len(e.list()) > 0 {
		t.Errorf("left behind: %v, VMs %v", l, e.list())
	}
}
