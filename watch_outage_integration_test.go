package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// outageSecret is one secret of an outage test: its name and its key.
type outageSecret struct {
	name, key string
}

// healthGet returns the body of a GET of path on the watch's health
// server.
func (p *watchProcess) healthGet(t *testing.T, path string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + p.listen + path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the body of %s: %v", path, err)
	}
	return body
}

// readyzReasons returns the reasons of the watch's /readyz response.
func (p *watchProcess) readyzReasons(t *testing.T) []string {
	t.Helper()
	var body struct {
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal(p.healthGet(t, "/readyz"), &body); err != nil {
		t.Fatalf("decode /readyz: %v", err)
	}
	return body.Reasons
}

// metricValue returns the value of one series of the watch's /metrics, such
// as `secrets_sync_token_ttl_seconds{credentials="default"}`, as text, or
// "" when the series is not served.
func (p *watchProcess) metricValue(t *testing.T, series string) string {
	t.Helper()
	for _, line := range strings.Split(string(p.healthGet(t, "/metrics")), "\n") {
		if value, ok := strings.CutPrefix(line, series+" "); ok {
			return value
		}
	}
	return ""
}

// expectOwnName fails when text, a message about secret own, does not name
// own exactly once or names another secret of secrets. A key that another
// secret shares with own may appear, since the read is the same.
func expectOwnName(t *testing.T, where, text string, own outageSecret, secrets []outageSecret) {
	t.Helper()
	if n := strings.Count(text, fmt.Sprintf("%q", own.name)); n != 1 {
		t.Errorf("%s names secret %q %d times, want once: %s", where, own.name, n, text)
	}
	for _, other := range secrets {
		if other.name == own.name {
			continue
		}
		if strings.Contains(text, fmt.Sprintf("%q", other.name)) {
			t.Errorf("%s about secret %q names secret %q: %s", where, own.name, other.name, text)
		}
		if other.key != own.key && strings.Contains(text, other.key) {
			t.Errorf("%s about secret %q contains the key %s of secret %q: %s", where, own.name, other.key, other.name, text)
		}
	}
}

// expectOutageNamesEachOnce checks /readyz, the status file, isready and
// the outage's log line of a watch whose server is down: each secret's
// reason and error name that secret once and no other, and each carries
// the server's error.
func expectOutageNamesEachOnce(t *testing.T, p *watchProcess, secrets []outageSecret, cause string) {
	t.Helper()
	reasons := p.readyzReasons(t)
	if len(reasons) != len(secrets) {
		t.Errorf("/readyz has %d reasons, want one per secret: %q", len(reasons), reasons)
	}
	for _, s := range secrets {
		var own []string
		for _, r := range reasons {
			if strings.HasPrefix(r, fmt.Sprintf("secret %q ", s.name)) {
				own = append(own, r)
			}
		}
		if len(own) != 1 {
			t.Errorf("/readyz has %d reasons for secret %q, want 1: %q", len(own), s.name, reasons)
			continue
		}
		expectOwnName(t, "the /readyz reason", own[0], s, secrets)
		if !strings.Contains(own[0], cause) {
			t.Errorf("the /readyz reason of secret %q lacks the server's error %q: %s", s.name, cause, own[0])
		}
	}

	st, err := status.ReadFile(p.statusFile)
	if err != nil {
		t.Fatalf("read the status file: %v", err)
	}
	for _, entry := range st.Secrets {
		for _, other := range secrets {
			if strings.Contains(entry.LastError, fmt.Sprintf("%q", other.name)) {
				t.Errorf("the status file's lastError of secret %q names secret %q: %s", entry.Name, other.name, entry.LastError)
			}
		}
		if !strings.Contains(entry.LastError, cause) {
			t.Errorf("the status file's lastError of secret %q lacks the server's error %q: %s", entry.Name, cause, entry.LastError)
		}
	}

	res := run(t, p.dir, p.env, "isready", "--status-file", p.statusFile)
	if res.code != 1 {
		t.Errorf("isready exit code = %d, want 1", res.code)
	}
	for _, s := range secrets {
		if n := strings.Count(res.stderr, fmt.Sprintf("%q", s.name)); n != 1 {
			t.Errorf("isready names secret %q %d times, want once: %s", s.name, n, res.stderr)
		}
	}

	for _, line := range p.logLines("server unreachable, reads paused until it responds") {
		logged := fmt.Sprint(line["err"])
		for _, s := range secrets {
			if strings.Contains(logged, fmt.Sprintf("%q", s.name)) || strings.Contains(logged, s.key) {
				t.Errorf("the outage's log line names secret %q: %s", s.name, logged)
			}
		}
	}
}

func TestWatchOutageReasonsAtStart(t *testing.T) {
	t.Parallel()
	secrets := []outageSecret{{"db", "outage-start/db"}, {"legacy", "outage-start/legacy"}, {"cache", "outage-start/cache"}}
	dir := t.TempDir()
	// cache logs in with a set of its own, so that the outage is seen by
	// two logins.
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  credentials:
    team-b: {authMethod: approle, roleId: never-sent-role, secretId: "${SECRET_ID}"}
secrets:
  - {name: db, key: outage-start/db, refreshInterval: 1s, files: [{path: out/db, field: v}]}
  - {name: legacy, key: outage-start/legacy, refreshInterval: 1s, files: [{path: out/legacy, field: v}]}
  - {name: cache, key: outage-start/cache, credentials: team-b, refreshInterval: 1s, files: [{path: out/cache, field: v}]}
`)
	// Nothing listens on the port, so every request is refused.
	address := "http://" + freeAddress(t)
	env := []string{"VAULT_ADDR=" + address, "VAULT_TOKEN=never-sent-token", "SECRET_ID=never-sent-secret-id"}
	p := startWatch(t, dir, env, "watch", "-c", cfg)
	p.waitLog(t, 1, "server unreachable, reads paused until it responds")
	// Each secret is retried at most 1s after the first round, and the
	// third probe goes at least 3.5s after it, so by then every secret has
	// been held back by the outage.
	p.waitLog(t, 3, "server still unreachable")

	expectOutageNamesEachOnce(t, p, secrets, "server "+address+" unreachable")
	for _, set := range []string{"default", "team-b"} {
		series := fmt.Sprintf("secrets_sync_token_ttl_seconds{credentials=%q}", set)
		if got := p.metricValue(t, series); got != "-1" {
			t.Errorf("%s = %q without a token, want -1", series, got)
		}
	}
	p.stop(t)
	p.expectNoSecrets(t, "never-sent-token", "never-sent-secret-id")
}

func TestWatchOutageReasonsWhenStale(t *testing.T) {
	t.Parallel()
	s := vaulttest.Start(t)
	secrets := []outageSecret{{"db", "outage-stale/db"}, {"legacy", "outage-stale/legacy"}, {"db-copy", "outage-stale/db"}}
	s.WriteKV2(t, "secret", "outage-stale/db", map[string]any{"v": "stale-db-value"})
	s.WriteKV2(t, "secret", "outage-stale/legacy", map[string]any{"v": "stale-legacy-value"})
	dir := t.TempDir()
	// db and db-copy share one read.
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
defaults: {refreshInterval: 1s}
secrets:
  - {name: db, key: outage-stale/db, maxStale: 1s, files: [{path: out/db, field: v}]}
  - {name: legacy, key: outage-stale/legacy, maxStale: 1s, files: [{path: out/legacy, field: v}]}
  - {name: db-copy, key: outage-stale/db, maxStale: 1s, files: [{path: out/db-copy, field: v}]}
`)
	p := startWatch(t, dir, serverEnv(s), "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/legacy"), "stale-legacy-value")
	p.waitReadiness(t, true)

	s.Stop()
	p.waitLog(t, 1, "server unreachable, reads paused until it responds")
	// Every secret falls due again within 1.1s of the outage's start, by
	// its refresh interval of 1s ±10% or by a backoff of at most 1s. The
	// third probe goes at least 3.5s after the start, so by then every
	// secret has been held back by the outage and is stale.
	p.waitLog(t, 3, "server still unreachable")

	expectOutageNamesEachOnce(t, p, secrets, "server "+s.Addr+" unreachable")
	// The root token never expires and is still valid while the server is
	// down.
	series := `secrets_sync_token_ttl_seconds{credentials="default"}`
	if got := p.metricValue(t, series); got != "0" {
		t.Errorf("%s = %q for the root token, want 0", series, got)
	}
	p.stop(t)
	p.expectNoSecrets(t, "stale-db-value", "stale-legacy-value", s.RootToken)
}

// TestWatchRejectedSetsNamedOnce checks that with two credential sets
// rejected at once, /readyz and isready give each set's error once, on the
// token line, that each secret points to it, and that the status file
// lists both sets.
func TestWatchRejectedSetsNamedOnce(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "rejected-sets/db", map[string]any{"v": "rejected-sets-value"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  credentials:
    team-a: {authMethod: token, token: "${TOKEN_A}"}
    team-b: {authMethod: token, token: "${TOKEN_B}"}
secrets:
  - {name: db, key: rejected-sets/db, credentials: team-a, refreshInterval: 1s, files: [{path: out/db, field: v}]}
  - {name: cache, key: rejected-sets/db, credentials: team-b, refreshInterval: 1s, files: [{path: out/cache, field: v}]}
`)
	env := []string{"VAULT_ADDR=" + s.Addr, "TOKEN_A=rejected-token-of-team-a", "TOKEN_B=rejected-token-of-team-b"}
	p := startWatch(t, dir, env, "watch", "-c", cfg)
	p.waitReadiness(t, false)
	waitUntil(t, "both sets in the status file's tokenErrors", func() bool {
		st, err := status.ReadFile(p.statusFile)
		return err == nil && len(st.TokenErrors) == 2
	})

	isready := run(t, p.dir, p.env, "isready", "--status-file", p.statusFile)
	sources := map[string]string{
		"/readyz": strings.Join(p.readyzReasons(t), "\n"),
		"isready": isready.stdout + isready.stderr,
	}
	for source, text := range sources {
		for _, set := range []string{"team-a", "team-b"} {
			if n := strings.Count(text, set); n != 1 {
				t.Errorf("%s names credential set %s %d times, want once:\n%s", source, set, n, text)
			}
		}
		if n := strings.Count(text, "the token error above"); n != 2 {
			t.Errorf("%s points to the token error %d times, want once per secret:\n%s", source, n, text)
		}
	}
	p.stop(t)
	p.expectNoSecrets(t, "rejected-sets-value", "rejected-token-of-team-a", "rejected-token-of-team-b")
}

// TestWatchStatusFileStaleDuringOutage checks that a secret that becomes
// stale while the server is down is marked stale in the status file too,
// although no round runs then. Its maxStale outlasts the moment the outage
// holds it back, so only a later write can mark it.
func TestWatchStatusFileStaleDuringOutage(t *testing.T) {
	t.Parallel()
	s := vaulttest.Start(t)
	s.WriteKV2(t, "secret", "outage-file/app", map[string]any{"v": "outage-file-value"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: outage-file/app, refreshInterval: 1s, maxStale: 4s, files: [{path: out/app, field: v}]}
`)
	p := startWatch(t, dir, serverEnv(s), "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/app"), "outage-file-value")
	p.waitReadiness(t, true)

	s.Stop()
	p.waitLog(t, 1, "server unreachable, reads paused until it responds")
	waitUntil(t, "/readyz to report the secret stale", func() bool {
		return strings.Contains(strings.Join(p.readyzReasons(t), "\n"), `secret "app" is stale`)
	})
	waitUntil(t, "the status file to mark the secret stale", func() bool {
		st, err := status.ReadFile(p.statusFile)
		return err == nil && len(st.Secrets) == 1 && st.Secrets[0].Stale
	})
	p.stop(t)
	p.expectNoSecrets(t, "outage-file-value", s.RootToken)
}
