package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// TokenInfo is the server's data about a session's token from its login,
// its last lookup or its last renewal. It never contains the token itself.
type TokenInfo struct {
	// TTL is the time left when the server responded; 0 means the token
	// never expires, as a root token.
	TTL time.Duration
	// Renewable is whether renew-self may extend the token.
	Renewable bool
	// Increment is the TTL to request at each renewal: the TTL the token
	// was created with.
	Increment time.Duration
	// Checked is when the server responded, by the local clock.
	Checked time.Time
}

// ExpiresAt returns when the token expires, or the zero time when it never
// does.
func (i TokenInfo) ExpiresAt() time.Time {
	if i.TTL <= 0 {
		return time.Time{}
	}
	return i.Checked.Add(i.TTL)
}

// Remaining returns the token's TTL left at now, 0 once it has expired. It
// returns 0 too for a token that never expires; check TTL for that case.
func (i TokenInfo) Remaining(now time.Time) time.Duration {
	if i.TTL <= 0 {
		return 0
	}
	return max(i.ExpiresAt().Sub(now), 0)
}

// Token returns what is known about the session's token.
func (s *Session) Token() TokenInfo {
	s.infoMu.Lock()
	defer s.infoMu.Unlock()
	return s.info
}

func (s *Session) setToken(info TokenInfo) {
	s.infoMu.Lock()
	s.info = info
	s.infoMu.Unlock()
}

// LookupSelf looks up the session's token with lookup-self and stores the
// result. A token that the server no longer accepts is an *Error of
// KindForbidden, because Vault responds 403 to an expired or revoked token.
func (s *Session) LookupSelf(ctx context.Context) (TokenInfo, error) {
	resp, err := s.client.do(ctx, "look up token", "GET", "auth/token/lookup-self", s.token, s.namespace, nil, nil)
	if err != nil {
		return TokenInfo{}, err
	}
	info := lookupInfo(resp.Data, time.Now())
	s.setToken(info)
	return info, nil
}

// RenewSelf extends the session's token by its creation TTL with
// renew-self, and stores the TTL granted. The server grants less when the
// token's max TTL is near. Once the max TTL has passed, Vault 1.13 rejects
// the renewal with a 500 and the message "past the max TTL, cannot renew".
func (s *Session) RenewSelf(ctx context.Context) (TokenInfo, error) {
	old := s.Token()
	var body map[string]any
	if old.Increment > 0 {
		body = map[string]any{"increment": strconv.FormatInt(int64(old.Increment/time.Second), 10) + "s"}
	}
	resp, err := s.client.do(ctx, "renew token", "PUT", "auth/token/renew-self", s.token, s.namespace, body, nil)
	if err != nil {
		return TokenInfo{}, err
	}
	if resp.Auth == nil {
		return TokenInfo{}, &Error{Kind: KindUnavailable, Op: "renew token", Address: s.client.Address(),
			Err: fmt.Errorf("the response contains no auth section")}
	}
	info := TokenInfo{
		TTL:       seconds(resp.Auth.LeaseDuration),
		Renewable: resp.Auth.Renewable,
		Increment: old.Increment,
		Checked:   time.Now(),
	}
	s.setToken(info)
	return info, nil
}

// TokenFileChanged reports whether the token in file differs from the
// session's token, so a token that was rotated on disk can be picked up.
func (s *Session) TokenFileChanged(file string) (bool, error) {
	token, err := readCredential("", file, "token")
	if err != nil {
		return false, err
	}
	return token != s.token, nil
}

// loginInfo is the TokenInfo of a login response.
func loginInfo(leaseSeconds int, renewable bool, now time.Time) TokenInfo {
	ttl := seconds(leaseSeconds)
	return TokenInfo{TTL: ttl, Renewable: renewable, Increment: ttl, Checked: now}
}

// lookupInfo reads the TokenInfo of a lookup-self response: ttl and
// creation_ttl in seconds, and renewable.
func lookupInfo(data map[string]any, now time.Time) TokenInfo {
	renewable, _ := data["renewable"].(bool)
	return TokenInfo{
		TTL:       numberSeconds(data["ttl"]),
		Renewable: renewable,
		Increment: numberSeconds(data["creation_ttl"]),
		Checked:   now,
	}
}

func seconds(n int) time.Duration {
	return time.Duration(n) * time.Second
}

// numberSeconds reads a count of seconds that the JSON decoder kept as a
// json.Number; anything else is 0.
func numberSeconds(v any) time.Duration {
	n, ok := v.(json.Number)
	if !ok {
		return 0
	}
	i, err := n.Int64()
	if err != nil || i < 0 {
		return 0
	}
	return time.Duration(i) * time.Second
}
