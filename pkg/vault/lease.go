package vault

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Lease is the lease of a secret read with engine generic, such as
// database credentials. The server revokes the secret when the lease ends
// unless it is renewed. It also revokes the secret when the token that
// obtained it is revoked or expires (Vault 1.13, RevokeByToken in
// vault/expiration.go).
type Lease struct {
	// ID names the lease in sys/leases requests. It is not a credential,
	// but logs show Path instead.
	ID string
	// Duration is the TTL granted when the server responded.
	Duration  time.Duration
	Renewable bool
	// Received is when the server responded, by the local clock.
	Received time.Time
	// TokenExpires is when the token that obtained the lease expires, as
	// known at Received; the zero time for a token that never expires.
	TokenExpires time.Time

	namespace string
	session   *Session
}

// ExpiresAt returns when the lease ends unless it is renewed.
func (l Lease) ExpiresAt() time.Time {
	return l.Received.Add(l.Duration)
}

// Path returns the path that the lease was obtained at, such as
// database/creds/app: the lease id without its random last segment.
func (l Lease) Path() string {
	if i := strings.LastIndexByte(l.ID, '/'); i >= 0 {
		return l.ID[:i]
	}
	return l.ID
}

// ErrLeaseOfOtherToken is the error of RenewLease for a lease that another
// session obtained. The lease ends with that session's token, so the secret
// is to be read again with the current one.
var ErrLeaseOfOtherToken = errors.New("the lease was obtained with a token that has since been replaced; read the secret again")

// newLease returns the lease of a response to this session, received at
// now, and records that the session has a lease.
func (s *Session) newLease(resp *response, namespace string, now time.Time) *Lease {
	s.infoMu.Lock()
	s.leased = true
	s.infoMu.Unlock()
	return &Lease{
		ID:           resp.LeaseID,
		Duration:     seconds(resp.LeaseDuration),
		Renewable:    resp.Renewable,
		Received:     now,
		TokenExpires: s.Token().ExpiresAt(),
		namespace:    namespace,
		session:      s,
	}
}

// HasLeases reports whether a read of this session obtained a lease.
// Revoke leaves the token of such a session alone, because Vault would
// revoke the leases with it.
func (s *Session) HasLeases() bool {
	s.infoMu.Lock()
	defer s.infoMu.Unlock()
	return s.leased
}

// RenewLease extends lease by increment with sys/leases/renew, in the
// namespace of the read that obtained it, and returns the lease with the
// TTL granted. The server grants less than increment when the lease's max
// TTL is near. Once the max TTL has passed, Vault 1.13 responds 500 with
// "past the max TTL", and to a lease that has ended it responds 400.
func (s *Session) RenewLease(ctx context.Context, lease Lease, increment time.Duration) (Lease, error) {
	if lease.session != s {
		return Lease{}, ErrLeaseOfOtherToken
	}
	op := "renew lease of " + lease.Path()
	if lease.namespace != "" {
		op += " in namespace " + lease.namespace
	}
	body := map[string]any{"lease_id": lease.ID, "increment": int64(increment / time.Second)}
	resp, err := s.client.do(ctx, op, "PUT", "sys/leases/renew", s.token, lease.namespace, body, nil)
	if err != nil {
		return Lease{}, err
	}
	if resp.LeaseID == "" {
		return Lease{}, &Error{Kind: KindUnavailable, Op: op, Address: s.client.Address(),
			Err: errors.New("the response contains no lease")}
	}
	renewed := lease
	renewed.Duration = seconds(resp.LeaseDuration)
	renewed.Renewable = resp.Renewable
	renewed.Received = time.Now()
	renewed.TokenExpires = s.Token().ExpiresAt()
	return renewed, nil
}
