package vm

import (
	"fmt"
	"sync"
	"time"
)

// idleTracker keeps what idle detection knows of each running VM: the
// sessions open through the daemon, and since when the VM has been idle.
// The zero tracker is ready to use.
type idleTracker struct {
	mu    sync.Mutex
	open  map[string]int // sessions open, by VM id
	state map[string]*idleState
}

// idleState is one VM's idle stretch, as sampled by the checks.
type idleState struct {
	run      *runtime // the run sampled; a new run starts over
	since    time.Time
	load     float64 // the last load read
	busy     bool    // what the last load read said
	accepted int     // forward connections accepted, at the last check
}

// sample is one check's view of a VM's activity.
type sample struct {
	sessions    int
	fwdOpen     int
	fwdAccepted int
	load        float64
	loadErr     error
}

func (t *idleTracker) addSession(id string, delta int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		t.open = map[string]int{}
	}
	t.open[id] += delta
	if t.open[id] <= 0 {
		delete(t.open, id)
	}
}

func (t *idleTracker) sessions(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open[id]
}

// since is since when VM id has been idle; zero before its first check.
func (t *idleTracker) since(id string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.state[id]; st != nil {
		return st.since
	}
	return time.Time{}
}

func (t *idleTracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, id)
}

// keep forgets the idle state of every VM not in live.
func (t *idleTracker) keep(live map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.state {
		if !live[id] {
			delete(t.state, id)
		}
	}
}

// update records the sample sm of VM id, running as rt, taken at now, and
// returns since when the VM has been idle, and what kept it busy (empty
// when it is idle). The first sample of a run starts the idle stretch.
//
// The guest's CPU counts as busy when its 1-minute load average is at
// least idleLoad and not falling: a load that falls means fewer tasks run
// than in the last minute, as after a burst, so the VM is quieting down.
// An unchanged load (read twice within the kernel's 5 s update) says what
// the previous read said. A failed read counts as busy: banger does not
// stop a VM whose activity it cannot see.
func (t *idleTracker) update(id string, rt *runtime, now time.Time, sm sample, idleLoad float64) (time.Time, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		t.state = map[string]*idleState{}
	}
	st := t.state[id]
	first := st == nil || st.run != rt
	if first {
		st = &idleState{run: rt, since: now, accepted: sm.fwdAccepted}
		t.state[id] = st
	}
	why := ""
	switch {
	case sm.sessions > 0:
		why = fmt.Sprintf("%d session(s) open", sm.sessions)
	case sm.fwdOpen > 0 || sm.fwdAccepted != st.accepted:
		why = "a port forward is in use"
	}
	st.accepted = sm.fwdAccepted
	if busy, loadWhy := st.loadBusy(sm, idleLoad, first); busy && why == "" {
		why = loadWhy
	}
	if why != "" {
		st.since = now
	}
	return st.since, why
}

// loadBusy says whether the load read in sm keeps the VM busy, and
// remembers it for the next read.
func (st *idleState) loadBusy(sm sample, idleLoad float64, first bool) (bool, string) {
	if sm.loadErr != nil {
		return true, "its load is unknown: " + sm.loadErr.Error()
	}
	busy := false
	switch {
	case sm.load < idleLoad:
	case first || sm.load > st.load:
		busy = true
	case sm.load == st.load:
		busy = st.busy
	}
	st.load, st.busy = sm.load, busy
	if !busy {
		return false, ""
	}
	return true, fmt.Sprintf("its load is %.2f (idle below %.2f, or falling)", sm.load, idleLoad)
}
