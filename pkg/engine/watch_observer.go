package engine

import (
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

// FanOut returns an Observer that passes every call to each of observers,
// in order. Nil observers are skipped.
func FanOut(observers ...Observer) Observer {
	var kept fanOut
	for _, o := range observers {
		if o != nil {
			kept = append(kept, o)
		}
	}
	return kept
}

type fanOut []Observer

func (f fanOut) ReadDone(secrets []string, duration time.Duration, err error) {
	for _, o := range f {
		o.ReadDone(secrets, duration, err)
	}
}

func (f fanOut) SecretDone(secret string, files []sink.Result, err error) {
	for _, o := range f {
		o.SecretDone(secret, files, err)
	}
}

// TokenObserver receives the state of each credential set's token during a
// watch. Calls come from many goroutines. credentials is the set's name,
// "default" for the set under secretStore.
type TokenObserver interface {
	// TokenTTL reports the TTL left on the token after a login, lookup or
	// renewal; 0 means the token never expires.
	TokenTTL(credentials string, ttl time.Duration)
	// TokenInvalid reports that the set has no valid token: its login
	// failed, also for lack of a server, or its token expired or was
	// rejected. The next TokenTTL reports a valid token again.
	TokenInvalid(credentials string)
	// TokenError reports a token that no longer works, or a login that
	// was rejected, and nil once a working token is in place again.
	TokenError(credentials string, err error)
}

type nopTokenObserver struct{}

func (nopTokenObserver) TokenTTL(string, time.Duration) {}
func (nopTokenObserver) TokenInvalid(string)            {}
func (nopTokenObserver) TokenError(string, error)       {}
