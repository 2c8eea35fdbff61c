package engine

import (
	"testing"
	"time"
)

// fakeClock is a clock that moves only when a test advances it.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// testBreaker returns a breaker on clock whose probe waits are 1s to 8s,
// always at the top of their jitter range.
func testBreaker(clock *fakeClock) *breaker {
	top := func() float64 { return 0.999 }
	return newBreaker(backoff{base: time.Second, max: 8 * time.Second}, clock.now, top)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestBreakerClosedAllowsAll(t *testing.T) {
	b := testBreaker(newFakeClock())
	for range 3 {
		ok, probe := b.Allow()
		if !ok || probe {
			t.Fatalf("Allow() = %v, %v on a closed breaker, want true, false", ok, probe)
		}
	}
	if !isClosed(b.Closed()) {
		t.Error("Closed() channel is open on a closed breaker")
	}
}

func TestBreakerOpensOnFailure(t *testing.T) {
	clock := newFakeClock()
	b := testBreaker(clock)
	if opened := b.Failure(false); !opened {
		t.Fatal("first failure did not report opening")
	}
	if opened := b.Failure(false); opened {
		t.Error("second failure reported opening again")
	}
	if isClosed(b.Closed()) {
		t.Error("Closed() channel is closed on an open breaker")
	}
	if ok, _ := b.Allow(); ok {
		t.Error("open breaker allowed a request before its backoff passed")
	}
}

func TestBreakerOneProbeAtATime(t *testing.T) {
	clock := newFakeClock()
	b := testBreaker(clock)
	b.Failure(false)
	clock.advance(time.Second)
	ok, probe := b.Allow()
	if !ok || !probe {
		t.Fatalf("Allow() after the backoff = %v, %v, want a probe", ok, probe)
	}
	for range 5 {
		if ok, _ := b.Allow(); ok {
			t.Fatal("a second caller was allowed while the probe is in flight")
		}
	}
	// A failure of a request sent before the breaker opened does not end
	// the probe.
	b.Failure(false)
	if ok, _ := b.Allow(); ok {
		t.Fatal("a stale failure released the probe")
	}
}

func TestBreakerProbeBackoffGrowsToCap(t *testing.T) {
	clock := newFakeClock()
	b := testBreaker(clock)
	b.Failure(false)
	var waits []time.Duration
	for range 6 {
		_, next, _ := b.State()
		waits = append(waits, next.Sub(clock.now()))
		clock.t = next
		if ok, probe := b.Allow(); !ok || !probe {
			t.Fatalf("no probe allowed at the planned time %v", next)
		}
		b.Failure(true)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] {
			t.Errorf("probe wait %d = %v, shorter than the one before, %v", i, waits[i], waits[i-1])
		}
	}
	for i, w := range waits {
		if w > 8*time.Second {
			t.Errorf("probe wait %d = %v, above the cap of 8s", i, w)
		}
	}
	if last := waits[len(waits)-1]; last < 4*time.Second {
		t.Errorf("last probe wait = %v, want it near the cap of 8s", last)
	}
	if _, _, failures := b.State(); failures != 7 {
		t.Errorf("failures = %d, want 7: the opening failure and six probes", failures)
	}
}

func TestBreakerSuccessCloses(t *testing.T) {
	clock := newFakeClock()
	b := testBreaker(clock)
	b.Failure(false)
	waiting := b.Closed()
	clock.advance(3 * time.Second)
	closedNow, downFor := b.Success()
	if !closedNow {
		t.Fatal("Success on an open breaker did not report closing")
	}
	if downFor != 3*time.Second {
		t.Errorf("down for %v, want 3s", downFor)
	}
	if !isClosed(waiting) {
		t.Error("the channel from Closed() while open was not closed by Success")
	}
	if ok, probe := b.Allow(); !ok || probe {
		t.Errorf("Allow() after closing = %v, %v, want true, false", ok, probe)
	}
	if closedNow, _ := b.Success(); closedNow {
		t.Error("Success on a closed breaker reported closing")
	}
}

func TestBreakerAbandonReleasesProbe(t *testing.T) {
	clock := newFakeClock()
	b := testBreaker(clock)
	b.Failure(false)
	clock.advance(time.Second)
	if ok, probe := b.Allow(); !ok || !probe {
		t.Fatal("no probe allowed")
	}
	b.Abandon()
	if ok, probe := b.Allow(); !ok || !probe {
		t.Error("no probe allowed after the first was abandoned")
	}
}
