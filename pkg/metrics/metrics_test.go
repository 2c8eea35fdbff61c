package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// scrape returns the registry's metrics in the text exposition format, as
// a Prometheus server would receive them.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape returned %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func expectLine(t *testing.T, text, line string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("scrape lacks the line %q", line)
}

func TestBuildInfo(t *testing.T) {
	m := New("1.2.3", "abc123")
	text := scrape(t, m)
	expectLine(t, text, fmt.Sprintf(`secrets_sync_build_info{commit="abc123",goversion=%q,version="1.2.3"} 1`, runtime.Version()))
}

func TestReadDone(t *testing.T) {
	m := New("dev", "none")
	m.ReadDone([]string{"db", "db-copy"}, 20*time.Millisecond, nil)
	m.ReadDone([]string{"db"}, 3*time.Second, &vault.Error{Kind: vault.KindForbidden, Op: "read secret/data/db", Status: 403})

	text := scrape(t, m)
	expectLine(t, text, `secrets_sync_reads_total{result="ok",secret="db"} 1`)
	expectLine(t, text, `secrets_sync_reads_total{result="ok",secret="db-copy"} 1`)
	expectLine(t, text, `secrets_sync_reads_total{result="forbidden",secret="db"} 1`)
	expectLine(t, text, `secrets_sync_read_duration_seconds_count 2`)
	expectLine(t, text, `secrets_sync_read_duration_seconds_bucket{le="0.025"} 1`)
	expectLine(t, text, `secrets_sync_read_duration_seconds_bucket{le="5"} 2`)
}

func TestSecretDone(t *testing.T) {
	m := New("dev", "none")
	m.now = func() time.Time { return time.Unix(1_700_000_000, 500_000_000) }
	m.SecretDone("db", []sink.Result{{Path: "/a", Changed: true}, {Path: "/b"}, {Path: "/c", Changed: true}}, nil)
	// A removed link was not written, so it adds nothing.
	m.SecretDone("db", []sink.Result{{Path: "/a"}, {Path: "/b"}, {Path: "/c"}, {Path: "/d", Changed: true, Removed: true}}, nil)
	m.SecretDone("tls", nil, &engine.RenderError{Path: "tls.crt", Err: errors.New("missing field")})

	text := scrape(t, m)
	expectLine(t, text, `secrets_sync_syncs_total{result="ok",secret="db"} 2`)
	expectLine(t, text, `secrets_sync_syncs_total{result="render",secret="tls"} 1`)
	expectLine(t, text, `secrets_sync_files_written_total{secret="db"} 2`)
	expectLine(t, text, `secrets_sync_last_success_timestamp_seconds{secret="db"} 1.7000000005e+09`)
	if strings.Contains(text, `secrets_sync_last_success_timestamp_seconds{secret="tls"}`) {
		t.Error("a secret that never succeeded has a last success time")
	}
	if strings.Contains(text, `secrets_sync_files_written_total{secret="tls"}`) {
		t.Error("a secret that wrote nothing has a files written series")
	}
}

func TestTokenTTL(t *testing.T) {
	m := New("dev", "none")
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	m.SetTokenTTL("", time.Hour)
	m.SetTokenTTL("team-b", 90*time.Second)

	text := scrape(t, m)
	expectLine(t, text, `secrets_sync_token_ttl_seconds{credentials="default"} 3600`)
	expectLine(t, text, `secrets_sync_token_ttl_seconds{credentials="team-b"} 90`)

	m.ForgetCredentials("team-b")
	if strings.Contains(scrape(t, m), `credentials="team-b"`) {
		t.Error("team-b's token TTL is still served after ForgetCredentials")
	}
}

func TestTokenTTLCountsDown(t *testing.T) {
	m := New("dev", "none")
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	m.SetTokenTTL("", time.Hour)

	now = now.Add(50 * time.Minute)
	expectLine(t, scrape(t, m), `secrets_sync_token_ttl_seconds{credentials="default"} 600`)

	// The server no longer accepts a token whose TTL has run out.
	now = now.Add(10 * time.Minute)
	expectLine(t, scrape(t, m), `secrets_sync_token_ttl_seconds{credentials="default"} -1`)
}

func TestTokenTTLStates(t *testing.T) {
	m := New("dev", "none")
	m.SetTokenTTL("root", 0)
	m.SetTokenTTL("expired", time.Hour)
	m.SetTokenInvalid("expired")
	m.SetTokenInvalid("rejected")
	m.SetTokenInvalid("replaced")
	m.SetTokenTTL("replaced", 0)

	text := scrape(t, m)
	expectLine(t, text, `secrets_sync_token_ttl_seconds{credentials="root"} 0`)
	expectLine(t, text, `secrets_sync_token_ttl_seconds{credentials="expired"} -1`)
	expectLine(t, text, `secrets_sync_token_ttl_seconds{credentials="rejected"} -1`)
	expectLine(t, text, `secrets_sync_token_ttl_seconds{credentials="replaced"} 0`)
}

func TestForget(t *testing.T) {
	m := New("dev", "none")
	for _, name := range []string{"db", "tls"} {
		m.ReadDone([]string{name}, time.Millisecond, nil)
		m.ReadDone([]string{name}, time.Millisecond, &vault.Error{Kind: vault.KindNotFound})
		m.SecretDone(name, []sink.Result{{Path: "/" + name, Changed: true}}, nil)
	}
	m.Forget("db")

	text := scrape(t, m)
	if strings.Contains(text, `secret="db"`) {
		t.Errorf("db is still served after Forget:\n%s", text)
	}
	expectLine(t, text, `secrets_sync_reads_total{result="not_found",secret="tls"} 1`)
	expectLine(t, text, `secrets_sync_files_written_total{secret="tls"} 1`)
}

func TestMetricNames(t *testing.T) {
	m := New("dev", "none")
	m.ReadDone([]string{"db"}, time.Millisecond, nil)
	m.SecretDone("db", []sink.Result{{Path: "/db", Changed: true}}, nil)
	m.SetTokenTTL("", time.Minute)

	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil {
		t.Fatal(err)
	} else {
		for _, p := range problems {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
	}
	want := []string{
		"secrets_sync_build_info",
		"secrets_sync_reads_total",
		"secrets_sync_read_duration_seconds",
		"secrets_sync_syncs_total",
		"secrets_sync_last_success_timestamp_seconds",
		"secrets_sync_files_written_total",
		"secrets_sync_token_ttl_seconds",
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, f := range families {
		served[f.GetName()] = true
		name := f.GetName()
		if !strings.HasPrefix(name, "secrets_sync_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("metric %s has none of the prefixes secrets_sync_, go_, process_", name)
		}
	}
	for _, name := range want {
		if !served[name] {
			t.Errorf("metric %s is not served", name)
		}
	}
}

func TestOwnRegistry(t *testing.T) {
	a := New("dev", "none")
	b := New("dev", "none")
	a.ReadDone([]string{"only-in-a"}, time.Millisecond, nil)
	if strings.Contains(scrape(t, b), "only-in-a") {
		t.Error("two Metrics share a registry")
	}
}

func TestResult(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&vault.Error{Kind: vault.KindNotFound}, "not_found"},
		{&vault.Error{Kind: vault.KindForbidden}, "forbidden"},
		{&vault.Error{Kind: vault.KindUnreachable}, "unreachable"},
		{&vault.Error{Kind: vault.KindTLS}, "tls"},
		{&vault.Error{Kind: vault.KindAuth}, "auth"},
		{&vault.Error{Kind: vault.KindUnavailable}, "unavailable"},
		{&vault.Error{Kind: vault.KindInvalid}, "invalid_request"},
		{&engine.SecretError{Secret: "db", Err: &vault.Error{Kind: vault.KindNotFound}}, "not_found"},
		{&vault.CredentialError{What: "token", File: "/run/token", Err: errors.New("empty")}, "credentials"},
		{&engine.RenderError{Path: "a", Err: errors.New("x")}, "render"},
		{&sink.EmptyError{Path: "/a"}, "empty"},
		{&sink.WriteError{Path: "/a", Op: "rename", Err: errors.New("x")}, "write"},
		{fmt.Errorf("read: %w", context.Canceled), "canceled"},
		{errors.New("something else"), "error"},
	}
	for _, tt := range tests {
		if got := Result(tt.err); got != tt.want {
			t.Errorf("Result(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestNoValueInMetrics feeds errors whose messages contain markers, as a
// careless error might, and checks that no marker reaches a scrape: only
// the kind of the error is used.
func TestNoValueInMetrics(t *testing.T) {
	const (
		value = "value-marker-7f3a"
		token = "hvs.token-marker-91c2"
	)
	m := New("dev", "none")
	m.ReadDone([]string{"db"}, time.Millisecond, &vault.Error{Kind: vault.KindForbidden, Op: "read " + value, Err: errors.New(token)})
	m.SecretDone("db", nil, &engine.RenderError{Path: "db.env", Err: errors.New(value)})
	m.SecretDone("tls", nil, errors.New(token))
	m.SetTokenTTL("team-b", time.Minute)

	text := scrape(t, m)
	for _, marker := range []string{value, token} {
		if strings.Contains(text, marker) {
			t.Errorf("scrape contains %q:\n%s", marker, text)
		}
	}
	expectLine(t, text, `secrets_sync_reads_total{result="forbidden",secret="db"} 1`)
}
