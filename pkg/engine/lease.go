package engine

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// minLeaseRefresh is the least time between a read of a secret that
// expires and its next renewal or read, so that data that arrives nearly
// expired is not fetched in a tight loop. It equals the minimum
// refreshInterval.
const minLeaseRefresh = config.MinRefreshInterval

// LeaseRenewer is a Reader that can also extend a lease that one of its
// reads obtained.
type LeaseRenewer interface {
	RenewLease(ctx context.Context, lease vault.Lease, increment time.Duration) (vault.Lease, error)
}

// Expiry is when the data of one read stops being valid, and why.
type Expiry struct {
	// Received is when the data arrived, or when its lease was last
	// renewed.
	Received time.Time
	// At is the earliest of the end of the lease, the end of the token
	// that obtained the lease, and the NotAfter of the first certificate in
	// the data to expire. It is after Received.
	At time.Time
	// Cause names what ends at At: "lease", "token", or "certificate in
	// field NAME".
	Cause string
}

// refreshAt returns when to renew or fetch the data again: two thirds of
// the way from Received to At, varied by jitter, and no sooner than
// minLeaseRefresh after Received. rnd is a uniform random number in
// [0, 1).
func (e *Expiry) refreshAt(jitter, rnd float64) time.Time {
	lifetime := e.At.Sub(e.Received)
	wait := jittered(time.Duration(float64(lifetime)*renewFraction), jitter, rnd)
	return e.Received.Add(max(wait, minLeaseRefresh))
}

// expiryOf returns the Expiry of a secret received at now, or nil when
// nothing in it expires: it has no lease with a TTL and no certificate
// that is still valid.
func expiryOf(secret *vault.Secret, now time.Time) *Expiry {
	var e *Expiry
	consider := func(at time.Time, cause string) {
		if at.After(now) && (e == nil || at.Before(e.At)) {
			e = &Expiry{Received: now, At: at, Cause: cause}
		}
	}
	if l := secret.Lease; l != nil && l.Duration > 0 {
		consider(l.ExpiresAt(), "lease")
		if !l.TokenExpires.IsZero() {
			consider(l.TokenExpires, "token")
		}
	}
	if at, field, ok := earliestCertificate(secret.Data, now); ok {
		consider(at, "certificate in field "+field)
	}
	return e
}

// secretExpiry returns the Expiry of a secret fetched just now, and logs
// it at debug level.
func (p *Pass) secretExpiry(secret *vault.Secret, names []string) *Expiry {
	now := time.Now()
	e := expiryOf(secret, now)
	if e != nil {
		p.opts.Logger.Debug("secret expires", "secrets", names, "cause", e.Cause,
			"expires_in", e.At.Sub(now).Round(time.Millisecond))
	}
	return e
}

// leaseBook stores the last renewable lease of each read key, with the data
// it came with, so that a watch round renews the lease instead of reading
// the secret again, which would issue new credentials. Rounds of one watch
// share it.
type leaseBook struct {
	mu    sync.Mutex
	byKey map[string]*leaseRecord
}

// leaseRecord is one renewable lease and the data of its read.
type leaseRecord struct {
	lease vault.Lease
	// increment is the TTL that each renewal requests: the TTL of the
	// read that obtained the lease.
	increment time.Duration
	data      map[string]any
}

func newLeaseBook() *leaseBook {
	return &leaseBook{byKey: map[string]*leaseRecord{}}
}

func (b *leaseBook) get(key string) (leaseRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.byKey[key]
	if !ok {
		return leaseRecord{}, false
	}
	return *rec, true
}

// record stores the lease of a new read under key, or deletes the key when
// the read has no renewable lease.
func (b *leaseBook) record(key string, secret *vault.Secret) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := secret.Lease
	if l == nil || !l.Renewable || l.Duration <= 0 {
		delete(b.byKey, key)
		return
	}
	b.byKey[key] = &leaseRecord{lease: *l, increment: l.Duration, data: secret.Data}
}

// renewed replaces the lease under key after a renewal.
func (b *leaseBook) renewed(key string, lease vault.Lease) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rec, ok := b.byKey[key]; ok {
		rec.lease = lease
	}
}

func (b *leaseBook) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.byKey, key)
}

// keep deletes every key for which used returns false.
func (b *leaseBook) keep(used func(key string) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for key := range b.byKey {
		if !used(key) {
			delete(b.byKey, key)
		}
	}
}

// fetch returns the data of one group. When the pass keeps leases and the
// group's last read has a renewable lease, it renews the lease and
// returns the same data. Otherwise, and when the renewal fails for good or
// grants less than the lease's first TTL, it reads the secret again.
func (p *Pass) fetch(ctx context.Context, reader Reader, g *readGroup, names []string) (*vault.Secret, error) {
	if p.leases != nil {
		secret, readAgain, err := p.renewLease(ctx, reader, g, names)
		if !readAgain {
			return secret, err
		}
	}
	secret, err := p.read(ctx, reader, g.req)
	if err == nil && p.leases != nil {
		p.leases.record(g.key, secret)
	}
	return secret, err
}

// renewLease renews the lease of g's last read and returns the renewed
// secret. It returns readAgain when g has no lease to renew, or when the
// renewal failed for good or was cut short, so the secret is to be read
// again. A transient failure, such as an outage, is returned as the error,
// and the lease is kept for a later round.
func (p *Pass) renewLease(ctx context.Context, reader Reader, g *readGroup, names []string) (secret *vault.Secret, readAgain bool, err error) {
	rec, ok := p.leases.get(g.key)
	if !ok {
		return nil, true, nil
	}
	renewer, ok := reader.(LeaseRenewer)
	if !ok {
		return nil, true, nil
	}
	lease, err := renewer.RenewLease(ctx, rec.lease, rec.increment)
	switch {
	case err != nil && vault.IsTransient(err) && !renewalRefused(err):
		// The lease may still be valid, so it is kept. The round fails and
		// is retried with backoff, as a failed read would be.
		return nil, false, err
	case err != nil:
		p.leases.forget(g.key)
		reason := "the renewal failed"
		if errors.Is(err, vault.ErrLeaseOfOtherToken) {
			reason = "the token that obtained the lease was replaced"
		}
		p.opts.Logger.Info("lease not renewed, reading the secret again", "secrets", names, "path", rec.lease.Path(),
			"reason", reason, "err", err)
		return nil, true, nil
	case lease.Duration < rec.increment:
		p.leases.forget(g.key)
		p.opts.Logger.Info("lease reaches its max TTL, reading the secret again", "secrets", names, "path", rec.lease.Path(),
			"ttl_granted", lease.Duration, "ttl_requested", rec.increment)
		return nil, true, nil
	}
	p.leases.renewed(g.key, lease)
	p.opts.Logger.Info("lease renewed", "secrets", names, "path", lease.Path(), "ttl", lease.Duration)
	return &vault.Secret{Data: rec.data, Lease: &lease}, false, nil
}

// RenewLease renews a lease with the set's current session. A lease that
// an earlier session obtained fails with vault.ErrLeaseOfOtherToken.
func (c *credential) RenewLease(ctx context.Context, lease vault.Lease, increment time.Duration) (vault.Lease, error) {
	ref, err := c.acquire()
	if err != nil {
		return vault.Lease{}, err
	}
	defer ref.inFlight.Done()
	return ref.session.RenewLease(ctx, lease, increment)
}

// secretRequest returns the request that reads s.
func secretRequest(s config.Secret) vault.Request {
	return vault.Request{
		Mount: s.Mount, Path: s.Path, KVVersion: s.KVVersion, Version: s.Version, Namespace: s.Namespace,
		Engine: s.Engine, Method: s.Method, Data: s.WriteData,
	}
}

// genericReadKey is the readKey of an engine generic secret: secrets with
// the same credential set, namespace, path, method and data share one
// request, and so the same credentials.
func genericReadKey(s config.Secret) string {
	// json.Marshal sorts map keys, so equal data gives equal text.
	data, _ := json.Marshal(s.WriteData)
	return s.Credentials + "\x00" + s.Namespace + "\x00" + config.EngineGeneric + "\x00" + s.Method + "\x00" +
		vault.GenericPath(s.Mount, s.Path) + "\x00" + string(data)
}

// readKeyUsed reports whether an entry that is still scheduled reads key.
func readKeyUsed(entries []*entry, key string) bool {
	for _, e := range entries {
		if e.readKey() == key {
			return true
		}
	}
	return false
}
