// Package metrics holds the Prometheus metrics of secrets-sync, on a
// registry of their own, fed as an engine.Observer.
//
// Every metric name starts with secrets_sync_. Labels carry only secret
// names and credential set names from the config, result kinds, and build
// details. They never carry a secret value, a token or an error message.
// The registry also contains the standard go_* and process_* collectors.
package metrics

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

const namespace = "secrets_sync"

// ResultOK is the result label of a read or sync that succeeded.
const ResultOK = "ok"

// readDurationBuckets are the upper bounds, in seconds, of the read
// duration histogram. A read's duration includes its retries, so the top
// buckets reach a minute.
var readDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics are the metrics of one process. Its methods are safe for
// concurrent use.
type Metrics struct {
	registry     *prometheus.Registry
	now          func() time.Time // the clock; tests replace it
	reads        *prometheus.CounterVec
	readDuration prometheus.Histogram
	syncs        *prometheus.CounterVec
	lastSuccess  *prometheus.GaugeVec
	filesWritten *prometheus.CounterVec
	tokenTTL     *tokenTTLGauge
}

var _ engine.Observer = (*Metrics)(nil)

// New creates the metrics and their registry, with secrets_sync_build_info
// set for version and commit.
func New(version, commit string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		now:      time.Now,
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "reads_total",
			Help:      "Reads of secrets from the server, by secret and result (ok, or the kind of failure). A read shared by several secrets counts once for each.",
		}, []string{"secret", "result"}),
		readDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "read_duration_seconds",
			Help:      "Duration of each read from the server, retries included, in seconds.",
			Buckets:   readDurationBuckets,
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "syncs_total",
			Help:      "Secrets read, rendered and written in a pass, by secret and result (ok, or the kind of failure).",
		}, []string{"secret", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "last_success_timestamp_seconds",
			Help:      "Time of the last successful sync of each secret, in seconds since the Unix epoch.",
		}, []string{"secret"}),
		filesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "files_written_total",
			Help:      "Files written because their content, mode or owner changed, by secret. Files that already matched are not counted.",
		}, []string{"secret"}),
	}
	// Tests replace m.now after New, so the gauge reads it at each call.
	m.tokenTTL = newTokenTTLGauge(func() time.Time { return m.now() })
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "build_info",
		Help:        "Always 1; the labels give the version, commit and Go version of the binary.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m.registry.MustRegister(
		m.reads, m.readDuration, m.syncs, m.lastSuccess, m.filesWritten, m.tokenTTL, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry that holds every metric, for /metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	return m.registry
}

// ReadDone counts one read for each secret that shared it, and observes its
// duration once.
func (m *Metrics) ReadDone(secrets []string, duration time.Duration, err error) {
	result := Result(err)
	for _, secret := range secrets {
		m.reads.WithLabelValues(secret, result).Inc()
	}
	m.readDuration.Observe(duration.Seconds())
}

// SecretDone counts the secret's outcome and its written files, and on
// success sets its last success time. A removed file is not counted.
func (m *Metrics) SecretDone(secret string, files []sink.Result, err error) {
	m.syncs.WithLabelValues(secret, Result(err)).Inc()
	written := 0
	for _, f := range files {
		if f.Changed && !f.Removed {
			written++
		}
	}
	if written > 0 {
		m.filesWritten.WithLabelValues(secret).Add(float64(written))
	}
	if err == nil {
		m.lastSuccess.WithLabelValues(secret).Set(float64(m.now().UnixNano()) / 1e9)
	}
}

// SetTokenTTL records a valid token of a credential set with ttl left, 0
// meaning that it never expires. Scrapes count the time left down from
// there. "" is the default set, shown as "default".
func (m *Metrics) SetTokenTTL(credentials string, ttl time.Duration) {
	m.tokenTTL.setTTL(config.CredentialsName(credentials), ttl)
}

// SetTokenInvalid records that a credential set has no valid token, which
// scrapes show as -1 until SetTokenTTL records a new one.
func (m *Metrics) SetTokenInvalid(credentials string) {
	m.tokenTTL.setInvalid(config.CredentialsName(credentials))
}

// ForgetCredentials removes the token TTL of a credential set that a reload
// removed.
func (m *Metrics) ForgetCredentials(credentials string) {
	m.tokenTTL.forget(config.CredentialsName(credentials))
}

// Forget removes every series of a secret that a reload removed, so that a
// scrape no longer shows it.
func (m *Metrics) Forget(secret string) {
	labels := prometheus.Labels{"secret": secret}
	m.reads.DeletePartialMatch(labels)
	m.syncs.DeletePartialMatch(labels)
	m.lastSuccess.DeletePartialMatch(labels)
	m.filesWritten.DeletePartialMatch(labels)
}

// Result returns the result label of an outcome: "ok" for nil, else the
// kind of failure. Kinds of server failures are not_found, forbidden,
// unreachable, tls, auth, unavailable and invalid_request. Other failures
// are credentials (a credential file cannot be read), render, empty (a
// render that would empty a file), write, canceled, or error for anything
// else.
func Result(err error) string {
	if err == nil {
		return ResultOK
	}
	var (
		vaultErr  *vault.Error
		credErr   *vault.CredentialError
		renderErr *engine.RenderError
		emptyErr  *sink.EmptyError
		writeErr  *sink.WriteError
	)
	switch {
	case errors.As(err, &vaultErr):
		return kindLabel(vaultErr.Kind)
	case errors.As(err, &credErr):
		return "credentials"
	case errors.As(err, &renderErr):
		return "render"
	case errors.As(err, &emptyErr):
		return "empty"
	case errors.As(err, &writeErr):
		return "write"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

// kindLabel returns the label of a server failure kind, in snake case.
func kindLabel(kind vault.Kind) string {
	switch kind {
	case vault.KindUnreachable:
		return "unreachable"
	case vault.KindTLS:
		return "tls"
	case vault.KindAuth:
		return "auth"
	case vault.KindNotFound:
		return "not_found"
	case vault.KindForbidden:
		return "forbidden"
	case vault.KindUnavailable:
		return "unavailable"
	case vault.KindInvalid:
		return "invalid_request"
	}
	return "error"
}
