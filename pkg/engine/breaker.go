package engine

import (
	"sync"
	"time"
)

// breaker is a circuit breaker for one server. While the server responds,
// it is closed and every request may go. A failure that shows the server
// down opens it: then no request goes, except one probe at a time, each
// after a backoff that grows with every failed probe. The first response
// closes it again. So a server that is down sees one request per backoff
// step, however many secrets are due.
//
// The breaker only keeps state: callers ask it before they send and tell
// it what happened. It is safe for concurrent use.
type breaker struct {
	mu      sync.Mutex
	now     func() time.Time
	rnd     func() float64
	backoff backoff

	open     bool
	probing  bool      // a probe was allowed and has not reported back
	failures int       // failed probes, plus the failure that opened it
	openedAt time.Time // when it opened
	retryAt  time.Time // when the next probe may go
	closed   chan struct{}
}

func newBreaker(b backoff, now func() time.Time, rnd func() float64) *breaker {
	closed := make(chan struct{})
	close(closed)
	return &breaker{now: now, rnd: rnd, backoff: b, closed: closed}
}

// Failure records a request that failed because the server is down. A
// closed breaker opens, and Failure returns true. An open breaker counts
// the failure only when it comes from the probe, and then waits longer
// before the next one. A failure of a request that was already in flight
// when the breaker opened does not count again.
func (b *breaker) Failure(probe bool) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.open {
		b.open = true
		b.probing = false
		b.failures = 1
		b.openedAt = now
		b.retryAt = now.Add(b.backoff.delay(1, b.rnd()))
		b.closed = make(chan struct{})
		return true
	}
	if probe && b.probing {
		b.probing = false
		b.failures++
		b.retryAt = now.Add(b.backoff.delay(b.failures, b.rnd()))
	}
	return false
}

// Success records a response from the server, which closes the breaker. It
// returns true when this call closed it, with how long it was open.
func (b *breaker) Success() (closedNow bool, downFor time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return false, 0
	}
	b.open = false
	b.probing = false
	downFor = b.now().Sub(b.openedAt)
	b.failures = 0
	close(b.closed)
	return true, downFor
}

// Allow reports whether a request may go now. A closed breaker allows
// every request. An open one allows a single probe once its backoff has
// passed. The caller then reports the probe's outcome with Failure or
// Success, or calls Abandon when it never sent the probe.
func (b *breaker) Allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false
	}
	if b.probing || b.now().Before(b.retryAt) {
		return false, false
	}
	b.probing = true
	return true, true
}

// Abandon releases a probe that was allowed but not sent, so another caller
// may probe without waiting for a further backoff.
func (b *breaker) Abandon() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// State returns whether the breaker is open, the time of the next probe
// (zero while one is in flight), and the failures counted since it opened.
func (b *breaker) State() (open bool, nextProbe time.Time, failures int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return false, time.Time{}, 0
	}
	if b.probing {
		return true, time.Time{}, b.failures
	}
	return true, b.retryAt, b.failures
}

// Closed returns a channel that is closed while the breaker is closed, so
// a caller can wait for the server to be back.
func (b *breaker) Closed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}
