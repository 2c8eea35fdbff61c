package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of secrets_sync_token_ttl_seconds that are not a time left.
const (
	// ttlNeverExpires is the value for a token without a TTL, such as a
	// root token, which Vault reports with a TTL of 0 too.
	ttlNeverExpires = 0
	// ttlNoToken is the value while a credential set has no valid token:
	// its login failed, or its token expired or was rejected.
	ttlNoToken = -1
)

// tokenTTLGauge is secrets_sync_token_ttl_seconds. It stores when each
// credential set's token expires rather than its TTL, so that every scrape
// gets the time left at that moment, also between renewals.
type tokenTTLGauge struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu   sync.Mutex
	sets map[string]tokenState // by credential set name
}

// tokenState is the token of one credential set.
type tokenState struct {
	valid bool
	// expiresAt is the zero time for a token that never expires.
	expiresAt time.Time
}

func newTokenTTLGauge(now func() time.Time) *tokenTTLGauge {
	return &tokenTTLGauge{
		desc: prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "", "token_ttl_seconds"),
			"Seconds left before the token of each credential set expires, as of the scrape; "+
				"0 for a token that never expires, such as a root token, "+
				"and -1 while the set has no valid token because its login failed or its token expired or was rejected.",
			[]string{"credentials"}, nil,
		),
		now:  now,
		sets: map[string]tokenState{},
	}
}

// setTTL records a valid token with ttl left, 0 meaning that it never
// expires.
func (g *tokenTTLGauge) setTTL(credentials string, ttl time.Duration) {
	state := tokenState{valid: true}
	if ttl != 0 {
		state.expiresAt = g.now().Add(ttl)
	}
	g.mu.Lock()
	g.sets[credentials] = state
	g.mu.Unlock()
}

// setInvalid records that the set has no valid token.
func (g *tokenTTLGauge) setInvalid(credentials string) {
	g.mu.Lock()
	g.sets[credentials] = tokenState{}
	g.mu.Unlock()
}

// forget removes the series of a credential set.
func (g *tokenTTLGauge) forget(credentials string) {
	g.mu.Lock()
	delete(g.sets, credentials)
	g.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (g *tokenTTLGauge) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.desc
}

// Collect implements prometheus.Collector with one gauge per credential
// set.
func (g *tokenTTLGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for credentials, state := range g.sets {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, state.seconds(now), credentials)
	}
}

// seconds returns the gauge's value at now. A token whose TTL has run out
// counts as no valid token, because the server no longer accepts it.
func (s tokenState) seconds(now time.Time) float64 {
	switch {
	case !s.valid:
		return ttlNoToken
	case s.expiresAt.IsZero():
		return ttlNeverExpires
	case !now.Before(s.expiresAt):
		return ttlNoToken
	}
	return s.expiresAt.Sub(now).Seconds()
}
