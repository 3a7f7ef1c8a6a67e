// Package event is a small typed publish/subscribe bus: a service publishes
// what happened, and the parts of the daemon that care subscribe, instead of
// the service calling up into them.
//
// Delivery is asynchronous and never blocks the publisher: every
// subscription has its own unbounded queue, drained in order by one
// goroutine that calls the subscriber's handler. A slow subscriber only
// delays itself (its queue grows); it never holds up the publisher or the
// other subscribers. Publish returns a channel that closes once every
// subscriber of the moment has handled the value, so a publisher that wants
// its subscribers to catch up (e.g. before answering a request) can wait for
// that, with a bound of its own choosing.
package event

import (
	"sync"
	"sync/atomic"
)

// Bus fans values of type T out to its subscribers. The zero Bus is ready to
// use. It is safe for concurrent use.
type Bus[T any] struct {
	mu     sync.Mutex
	subs   []*Subscription[T]
	closed bool
}

// Subscription is one subscriber's queue and handler.
type Subscription[T any] struct {
	bus  *Bus[T]
	fn   func(T)
	wake chan struct{} // one pending wake-up
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the delivery goroutine ends
	once sync.Once

	mu    sync.Mutex
	queue []item[T]
}

type item[T any] struct {
	v T
	d *delivery
}

// delivery counts the subscribers that have yet to handle one value.
type delivery struct {
	left atomic.Int32
	done chan struct{}
}

func (d *delivery) ack() {
	if d.left.Add(-1) == 0 {
		close(d.done)
	}
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Subscribe calls fn with every value published from now on, in publishing
// order, on a goroutine of the subscription's own. Close the subscription
// to stop. On a closed bus the subscription is already closed.
func (b *Bus[T]) Subscribe(fn func(T)) *Subscription[T] {
	s := &Subscription[T]{bus: b, fn: fn, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	b.mu.Lock()
	closed := b.closed
	if !closed {
		b.subs = append(b.subs, s)
	}
	b.mu.Unlock()
	if closed {
		s.once.Do(func() { close(s.stop) })
		close(s.done)
		return s
	}
	go s.deliver()
	return s
}

// Publish queues v for every subscriber and returns at once. The returned
// channel closes when each of them has handled v (or was closed first).
func (b *Bus[T]) Publish(v T) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.subs) == 0 {
		return closedChan()
	}
	d := &delivery{done: make(chan struct{})}
	d.left.Store(int32(len(b.subs)))
	for _, s := range b.subs {
		s.enqueue(item[T]{v: v, d: d})
	}
	return d.done
}

// Close ends every subscription, waiting for handlers that are running, and
// makes later Publish and Subscribe calls do nothing.
func (b *Bus[T]) Close() {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

func (s *Subscription[T]) enqueue(it item[T]) {
	s.mu.Lock()
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (s *Subscription[T]) next() (item[T], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return item[T]{}, false
	}
	it := s.queue[0]
	s.queue[0] = item[T]{}
	s.queue = s.queue[1:]
	return it, true
}

func (s *Subscription[T]) deliver() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			s.drop()
			return
		case <-s.wake:
		}
		for it, ok := s.next(); ok; it, ok = s.next() {
			select {
			case <-s.stop:
				it.d.ack()
				s.drop()
				return
			default:
			}
			s.fn(it.v)
			it.d.ack()
		}
	}
}

// drop acknowledges what is still queued, unhandled, so no publisher waits
// for a subscriber that is gone.
func (s *Subscription[T]) drop() {
	for it, ok := s.next(); ok; it, ok = s.next() {
		it.d.ack()
	}
}

// Close stops the subscription: values still queued are dropped, and Close
// returns once a handler that is running has returned. It must not be
// called from the subscription's own handler.
func (s *Subscription[T]) Close() {
	s.bus.mu.Lock()
	for i, o := range s.bus.subs {
		if o == s {
			s.bus.subs = append(s.bus.subs[:i], s.bus.subs[i+1:]...)
			break
		}
	}
	s.bus.mu.Unlock()
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
