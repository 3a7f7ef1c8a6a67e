package event

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
)

func TestSubscribersGetEveryValueInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b Bus[int]
		var mu sync.Mutex
		var got1, got2 []int
		s1 := b.Subscribe(func(v int) { mu.Lock(); got1 = append(got1, v); mu.Unlock() })
		s2 := b.Subscribe(func(v int) { mu.Lock(); got2 = append(got2, v); mu.Unlock() })
		var last <-chan struct{}
		for i := range 5 {
			last = b.Publish(i)
		}
		<-last
		mu.Lock()
		if want := []int{0, 1, 2, 3, 4}; !slices.Equal(got1, want) || !slices.Equal(got2, want) {
			t.Fatalf("got %v and %v, want %v each", got1, got2, want)
		}
		mu.Unlock()
		s1.Close()
		<-b.Publish(9)
		mu.Lock()
		defer mu.Unlock()
		if len(got1) != 5 || got2[len(got2)-1] != 9 {
			t.Fatalf("after closing s1: %v and %v", got1, got2)
		}
		s2.Close()
	})
}

func TestPublishDoesNotWaitForASlowSubscriber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b Bus[string]
		release := make(chan struct{})
		var fast []string
		b.Subscribe(func(string) { <-release })
		b.Subscribe(func(v string) { fast = append(fast, v) })
		d1 := b.Publish("a")
		d2 := b.Publish("b") // returns although the slow subscriber is stuck on "a"
		synctest.Wait()
		if !slices.Equal(fast, []string{"a", "b"}) {
			t.Fatalf("fast subscriber got %v while the slow one was stuck", fast)
		}
		select {
		case <-d1:
			t.Fatal("delivery reported done before the slow subscriber handled it")
		default:
		}
		close(release)
		<-d1
		<-d2
		b.Close()
	})
}

func TestCloseDropsQueuedValuesAndReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b Bus[int]
		started, release := make(chan struct{}), make(chan struct{})
		var handled []int
		s := b.Subscribe(func(v int) {
			if v == 0 {
				close(started)
				<-release
			}
			handled = append(handled, v)
		})
		b.Publish(0)
		queued := b.Publish(1)
		<-started
		closed := make(chan struct{})
		go func() { s.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while the handler was running")
		default:
		}
		close(release)
		<-closed
		<-queued // acknowledged although never handled
		if !slices.Equal(handled, []int{0}) {
			t.Fatalf("handled %v, want only 0", handled)
		}
		s.Close() // twice is fine
	})
}

func TestClosedBus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b Bus[int]
		<-b.Publish(1) // no subscribers: done at once
		b.Close()
		called := false
		s := b.Subscribe(func(int) { called = true })
		<-b.Publish(2)
		s.Close()
		if called {
			t.Fatal("a subscription on a closed bus was called")
		}
	})
}
