package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

func TestReady(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	synced := SecretStatus{Name: "db", State: StateSynced, LastAttempt: now, LastSuccess: now}
	tests := []struct {
		name    string
		status  Status
		reasons []string // substrings, one per expected reason
	}{
		{
			name:   "all synced",
			status: Status{Secrets: []SecretStatus{synced}},
		},
		{
			name:   "no secrets",
			status: Status{Secrets: []SecretStatus{}},
		},
		{
			name:    "pending",
			status:  Status{Secrets: []SecretStatus{synced, {Name: "tls", State: StatePending}}},
			reasons: []string{`secret "tls" has not synced yet`},
		},
		{
			name: "never synced",
			status: Status{Secrets: []SecretStatus{
				{Name: "tls", State: StateFailed, LastAttempt: now, LastError: "read secret/data/tls: 404 Not Found"},
			}},
			reasons: []string{`secret "tls" has never synced: read secret/data/tls: 404 Not Found`},
		},
		{
			name: "failing within maxStale",
			status: Status{Secrets: []SecretStatus{
				{Name: "db", State: StateFailed, LastSuccess: now.Add(-5 * time.Minute), MaxStaleSeconds: 600, LastError: "unreachable"},
			}},
		},
		{
			name: "failing past maxStale",
			status: Status{Secrets: []SecretStatus{
				{Name: "db", State: StateFailed, LastSuccess: now.Add(-11 * time.Minute), MaxStaleSeconds: 600, LastError: "unreachable"},
			}},
			reasons: []string{`secret "db" is stale`, "maxStale of 10m0s", "2026-03-01T11:49:00Z", "unreachable"},
		},
		{
			name: "failing with no maxStale",
			status: Status{Secrets: []SecretStatus{
				{Name: "db", State: StateFailed, LastSuccess: now.Add(-240 * time.Hour), LastError: "unreachable"},
			}},
		},
		{
			name:    "stale flag set by the writer",
			status:  Status{Secrets: []SecretStatus{{Name: "db", State: StateFailed, LastSuccess: now, Stale: true}}},
			reasons: []string{`secret "db" is stale`},
		},
		{
			name:    "token error",
			status:  Status{TokenError: "token expired", Secrets: []SecretStatus{synced}},
			reasons: []string{"token: token expired"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, reasons := tt.status.Ready(now)
			if ready != (len(tt.reasons) == 0) {
				t.Errorf("ready = %v, want %v (reasons %q)", ready, len(tt.reasons) == 0, reasons)
			}
			if len(tt.reasons) == 0 {
				if len(reasons) != 0 {
					t.Errorf("reasons = %q, want none", reasons)
				}
				return
			}
			// Each expected piece must appear in some reason.
			joined := strings.Join(reasons, "\n")
			for _, want := range tt.reasons {
				if !strings.Contains(joined, want) {
					t.Errorf("reasons %q lack %q", reasons, want)
				}
			}
		})
	}
}

func TestReadyListsEveryReason(t *testing.T) {
	s := Status{
		TokenError: "login denied",
		Secrets: []SecretStatus{
			{Name: "a", State: StatePending},
			{Name: "b", State: StateFailed, LastError: "forbidden"},
			{Name: "c", State: StateSynced, LastSuccess: time.Now()},
		},
	}
	ready, reasons := s.Ready(time.Now())
	if ready {
		t.Fatal("ready with a pending and a failed secret")
	}
	if len(reasons) != 3 {
		t.Fatalf("reasons = %q, want 3: token, a, b", reasons)
	}
	for i, want := range []string{"token: login denied", `secret "a"`, `secret "b"`} {
		if !strings.Contains(reasons[i], want) {
			t.Errorf("reason %d = %q, want it to contain %q", i, reasons[i], want)
		}
	}
}

// TestReadyNamesTokenErrorOnce checks that a secret that failed with the
// token error points to the token reason instead of repeating it, while a
// secret that failed otherwise keeps its own message.
func TestReadyNamesTokenErrorOnce(t *testing.T) {
	tokenErr := "look up token at http://127.0.0.1:8200: 403 permission denied"
	s := Status{
		TokenError: tokenErr,
		Secrets: []SecretStatus{
			{Name: "a", State: StateFailed, LastError: "secret a: " + tokenErr},
			{Name: "b", State: StateFailed, LastError: "no secret at this path"},
		},
	}
	_, reasons := s.Ready(time.Now())
	if len(reasons) != 3 {
		t.Fatalf("reasons = %q, want 3: token, a, b", reasons)
	}
	if got := strings.Count(strings.Join(reasons, "\n"), "403"); got != 1 {
		t.Errorf("the token error appears %d times, want once:\n%s", got, strings.Join(reasons, "\n"))
	}
	if !strings.Contains(reasons[1], "the token error above") {
		t.Errorf("reason for a = %q, want it to point to the token error", reasons[1])
	}
	if !strings.Contains(reasons[2], "no secret at this path") {
		t.Errorf("reason for b = %q, want its own error", reasons[2])
	}
}

func TestReadyNamesEachSetTokenErrorOnce(t *testing.T) {
	errA := "log in with credentials a: permission denied"
	errB := "log in with credentials b: invalid role_id"
	s := Status{
		TokenError:  errA + "; " + errB,
		TokenErrors: []string{errA, errB},
		Secrets: []SecretStatus{
			{Name: "x", State: StateFailed, LastError: "secret x: " + errA},
			{Name: "y", State: StateFailed, LastError: "secret y: " + errB},
		},
	}
	_, reasons := s.Ready(time.Now())
	all := strings.Join(reasons, "\n")
	if len(reasons) != 3 {
		t.Fatalf("reasons = %q, want 3: token, x, y", reasons)
	}
	for _, message := range []string{errA, errB} {
		if got := strings.Count(all, message); got != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", message, got, all)
		}
	}
	for i, name := range []string{"x", "y"} {
		if !strings.Contains(reasons[i+1], "the token error above") {
			t.Errorf("reason for %s = %q, want it to point to the token error", name, reasons[i+1])
		}
	}
}

func TestReadyReasonOnOneLine(t *testing.T) {
	s := Status{Secrets: []SecretStatus{{Name: "a", State: StateFailed, LastError: "first line\nsecond line"}}}
	_, reasons := s.Ready(time.Now())
	if len(reasons) != 1 || strings.Contains(reasons[0], "\n") {
		t.Errorf("reasons = %q, want one line", reasons)
	}
}

func TestStatusJSONFields(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := Status{
		PID: 42, StartedAt: now, Command: CommandWatch, UpdatedAt: now,
		Secrets: []SecretStatus{
			{Name: "db", State: StateSynced, LastAttempt: now, LastSuccess: now, Files: 2, ChangedFiles: 1, MaxStaleSeconds: 60},
			{Name: "new", State: StatePending, Files: 1},
		},
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}

	for _, key := range []string{"pid", "startedAt", "command", "updatedAt", "finished", "tokenError", "secrets"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("status JSON lacks %q: %s", key, data)
		}
	}

	secrets := fields["secrets"].([]any)
	db := secrets[0].(map[string]any)
	for _, key := range []string{"name", "state", "lastAttempt", "lastSuccess", "files", "changedFiles", "stale", "maxStaleSeconds"} {
		if _, ok := db[key]; !ok {
			t.Errorf("secret JSON lacks %q: %s", key, data)
		}
	}

	pending := secrets[1].(map[string]any)
	for _, key := range []string{"lastAttempt", "lastSuccess", "lastError"} {
		if _, ok := pending[key]; ok {
			t.Errorf("pending secret JSON has %q, want it left out until it happens: %s", key, data)
		}
	}
}

// secretDataReader returns fixed data for every read.
type secretDataReader struct{ data map[string]any }

func (r secretDataReader) Read(context.Context, vault.Request) (*vault.Secret, error) {
	return &vault.Secret{Data: r.data}, nil
}

// failingReader fails every read as the server would for a path the token
// may not read.
type failingReader struct{}

func (failingReader) Read(_ context.Context, req vault.Request) (*vault.Secret, error) {
	return nil, &vault.Error{Kind: vault.KindForbidden, Op: "read " + req.Mount + "/data/" + req.Path, Status: 403, Err: errors.New("permission denied")}
}

// memorySink reports every file handed to it as changed, and writes nothing.
type memorySink struct{}

func (memorySink) Write(_ context.Context, _ string, files []sink.File) ([]sink.Result, error) {
	results := make([]sink.Result, len(files))
	for i, f := range files {
		results[i] = sink.Result{Path: f.Path, Changed: true}
	}
	return results, nil
}

// TestStatusHoldsNoSecretData runs real engine passes, with the tracker as
// their observer, over secrets whose values and whose token are markers,
// and checks that no marker reaches the status file's JSON.
func TestStatusHoldsNoSecretData(t *testing.T) {
	const (
		value = "value-marker-7f3a"
		token = "hvs.token-marker-91c2"
	)
	ok := parsedSecret(t, "ok", "app/ok", "{{ .password }}")
	missing := parsedSecret(t, "missing", "app/missing", "{{ .nosuchfield }}")
	forbidden := parsedSecret(t, "forbidden", "app/forbidden", "{{ .password }}")
	forbidden.Credentials = "other"

	tr := NewTracker(CommandWatch)
	secrets := []config.Secret{ok, missing, forbidden}
	tr.SetSecrets(secrets)
	pass := engine.NewPass(memorySink{}, engine.Options{Observer: tr})
	sessions := &engine.Sessions{
		Readers: map[string]engine.Reader{
			"":      secretDataReader{data: map[string]any{"password": value, "token": token}},
			"other": failingReader{},
		},
	}
	report := pass.Run(context.Background(), sessions, secrets)
	if report.Err() == nil {
		t.Fatal("the pass succeeded, want the missing and forbidden secrets to fail")
	}
	tr.SetTokenErrors([]error{fmt.Errorf("renew token for credentials %q: permission denied", "other")})

	data, err := json.Marshal(tr.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, marker := range []string{value, token} {
		if strings.Contains(text, marker) {
			t.Errorf("status JSON contains %q:\n%s", marker, text)
		}
	}
	// The check above means something only if the status has the errors.
	for _, want := range []string{`"state":"synced"`, "nosuchfield", "permission denied"} {
		if !strings.Contains(text, want) {
			t.Errorf("status JSON lacks %q:\n%s", want, text)
		}
	}
}

func parsedSecret(t *testing.T, name, path, text string) config.Secret {
	t.Helper()
	tmpl, err := template.Parse(name, text)
	if err != nil {
		t.Fatal(err)
	}
	return config.Secret{
		Name: name, Path: path, Mount: "secret", KVVersion: config.KVv2,
		Files: []config.File{{Path: "/out/" + name, Dest: "out/" + name, Tmpl: tmpl, UID: -1, GID: -1, Mode: 0o600}},
	}
}
