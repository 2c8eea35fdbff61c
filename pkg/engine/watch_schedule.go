package engine

import (
	"errors"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// Defaults of a watch's schedule.
const (
	// DefaultJitter is the fraction by which each refresh interval is
	// varied at random, both ways, so that secrets and replicas with the
	// same interval do not read at the same instant.
	DefaultJitter = 0.1
	// DefaultMinBackoff is the delay before the first retry of a failed
	// secret.
	DefaultMinBackoff = time.Second
	// DefaultMaxBackoff caps the delay between retries of a failed secret;
	// the secret's refresh interval caps it too.
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultRoundTimeout bounds one round of reads and writes.
	DefaultRoundTimeout = 2 * time.Minute
	// maxProbeBackoff caps the delay between probes of a server that is
	// down, so that sync resumes soon after it is back.
	maxProbeBackoff = 30 * time.Second
)

// jittered returns d varied by up to frac of d in either direction. rnd is
// a uniform random number in [0, 1).
func jittered(d time.Duration, frac, rnd float64) time.Duration {
	if frac <= 0 {
		return d
	}
	offset := (2*rnd - 1) * frac * float64(d)
	return d + time.Duration(offset)
}

// nextRefresh returns when a secret read at now is due again: after its
// refresh interval, or at two thirds of the lifetime of its data when that
// comes first (see Expiry). Both are varied by jitter, and rnd returns a
// uniform random number in [0, 1).
func nextRefresh(now time.Time, refresh time.Duration, expiry *Expiry, jitter float64, rnd func() float64) time.Time {
	next := now.Add(jittered(refresh, jitter, rnd()))
	if expiry != nil {
		if at := expiry.refreshAt(jitter, rnd()); at.Before(next) {
			next = at
		}
	}
	return next
}

// backoff is a capped exponential delay with jitter, as retry-go's
// BackOffDelay combined with a random delay: attempt n waits between half
// and all of min(max, base·2^(n-1)), so the delay never exceeds max.
type backoff struct {
	base, max time.Duration
}

// delay returns the wait after the n-th consecutive failure, n ≥ 1. rnd is
// a uniform random number in [0, 1).
func (b backoff) delay(n int, rnd float64) time.Duration {
	base := max(b.base, time.Millisecond)
	ceiling := max(b.max, base)
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + time.Duration(rnd*float64(d/2))
}

// secretBackoff returns the retry delays of a secret that refreshes every
// refresh: from minDelay up to min(refresh, maxDelay).
func secretBackoff(refresh, minDelay, maxDelay time.Duration) backoff {
	ceiling := min(refresh, maxDelay)
	return backoff{base: min(minDelay, ceiling), max: ceiling}
}

// isOutage reports whether err means the server itself is down or cannot
// serve: it did not respond, or it responded 5xx, 412 or sealed. A TLS
// failure is not an outage, and neither is a 429, which limits this client
// and comes with its own Retry-After.
func isOutage(err error) bool {
	var ve *vault.Error
	if !errors.As(err, &ve) {
		return false
	}
	switch ve.Kind {
	case vault.KindUnreachable:
		return true
	case vault.KindUnavailable:
		return ve.Status != 429
	}
	return false
}

// retryAfter returns the server's Retry-After carried by err, or 0.
func retryAfter(err error) time.Duration {
	var ve *vault.Error
	if errors.As(err, &ve) {
		return ve.RetryAfter
	}
	return 0
}
