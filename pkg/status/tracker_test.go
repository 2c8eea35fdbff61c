package status

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

// clock is a settable time source for a Tracker.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func secretsNamed(names ...string) []config.Secret {
	secrets := make([]config.Secret, len(names))
	for i, name := range names {
		secrets[i] = config.Secret{Name: name, Files: []config.File{{Path: "/out/" + name}}}
	}
	return secrets
}

func findSecret(t *testing.T, s Status, name string) SecretStatus {
	t.Helper()
	for _, secret := range s.Secrets {
		if secret.Name == name {
			return secret
		}
	}
	t.Fatalf("secret %q not in status %+v", name, s.Secrets)
	return SecretStatus{}
}

func secretNames(s Status) []string {
	names := make([]string, len(s.Secrets))
	for i, secret := range s.Secrets {
		names[i] = secret.Name
	}
	return names
}

func TestTrackerStartsPending(t *testing.T) {
	c := newClock()
	tr := newTrackerWithClock(CommandWatch, c.Now)
	tr.SetSecrets(secretsNamed("db", "tls"))

	s := tr.Snapshot()
	if s.PID != os.Getpid() {
		t.Errorf("pid = %d, want %d", s.PID, os.Getpid())
	}
	if s.Command != CommandWatch {
		t.Errorf("command = %q, want %q", s.Command, CommandWatch)
	}
	if !s.StartedAt.Equal(c.Now()) {
		t.Errorf("startedAt = %v, want %v", s.StartedAt, c.Now())
	}
	if s.Finished {
		t.Error("finished = true before any pass")
	}
	if got := strings.Join(secretNames(s), ","); got != "db,tls" {
		t.Errorf("secrets = %s, want db,tls", got)
	}
	for _, secret := range s.Secrets {
		if secret.State != StatePending {
			t.Errorf("%s state = %q, want pending", secret.Name, secret.State)
		}
		if !secret.LastAttempt.IsZero() || !secret.LastSuccess.IsZero() {
			t.Errorf("%s has times before any pass: %+v", secret.Name, secret)
		}
		if secret.Files != 1 {
			t.Errorf("%s files = %d, want 1", secret.Name, secret.Files)
		}
	}
}

func TestTrackerSecretDone(t *testing.T) {
	c := newClock()
	tr := newTrackerWithClock(CommandWatch, c.Now)
	tr.SetSecrets(secretsNamed("db"))

	c.Advance(time.Second)
	firstSuccess := c.Now()
	tr.SecretDone("db", []sink.Result{{Path: "/out/a", Changed: true}, {Path: "/out/b"}}, nil)
	s := findSecret(t, tr.Snapshot(), "db")
	if s.State != StateSynced {
		t.Errorf("state = %q, want synced", s.State)
	}
	if !s.LastSuccess.Equal(firstSuccess) || !s.LastAttempt.Equal(firstSuccess) {
		t.Errorf("lastSuccess = %v, lastAttempt = %v, want both %v", s.LastSuccess, s.LastAttempt, firstSuccess)
	}
	if s.ChangedFiles != 1 {
		t.Errorf("changedFiles = %d, want 1", s.ChangedFiles)
	}

	// A failed refresh keeps the last success.
	c.Advance(time.Minute)
	tr.SecretDone("db", nil, errors.New("read secret/data/db: 403 Forbidden"))
	s = findSecret(t, tr.Snapshot(), "db")
	if s.State != StateFailed {
		t.Errorf("state = %q, want failed", s.State)
	}
	if !s.LastSuccess.Equal(firstSuccess) {
		t.Errorf("lastSuccess = %v, want it kept at %v", s.LastSuccess, firstSuccess)
	}
	if !s.LastAttempt.Equal(c.Now()) {
		t.Errorf("lastAttempt = %v, want %v", s.LastAttempt, c.Now())
	}
	if s.LastError != "read secret/data/db: 403 Forbidden" {
		t.Errorf("lastError = %q", s.LastError)
	}
	if s.ChangedFiles != 0 {
		t.Errorf("changedFiles = %d after a failure, want 0", s.ChangedFiles)
	}

	// A later success clears the error.
	c.Advance(time.Minute)
	tr.SecretDone("db", []sink.Result{{Path: "/out/a"}}, nil)
	s = findSecret(t, tr.Snapshot(), "db")
	if s.State != StateSynced || s.LastError != "" {
		t.Errorf("after recovery: state = %q, lastError = %q", s.State, s.LastError)
	}
	if !s.LastSuccess.Equal(c.Now()) {
		t.Errorf("lastSuccess = %v, want %v", s.LastSuccess, c.Now())
	}
}

func TestTrackerSkipsRemovedFiles(t *testing.T) {
	tr := NewTracker(CommandWatch)
	tr.SetSecrets(secretsNamed("db"))

	tr.SecretDone("db", []sink.Result{{Path: "/out/a", Changed: true}, {Path: "/out/b", Changed: true, Removed: true}}, nil)

	if s := findSecret(t, tr.Snapshot(), "db"); s.ChangedFiles != 1 {
		t.Errorf("changedFiles = %d, expected 1: the written file and not the removed link", s.ChangedFiles)
	}
}

func TestTrackerUpdatedAt(t *testing.T) {
	c := newClock()
	tr := newTrackerWithClock(CommandWatch, c.Now)
	tr.SetSecrets(secretsNamed("db"))
	c.Advance(time.Minute)
	tr.SecretDone("db", nil, nil)
	c.Advance(time.Minute)

	s := tr.Snapshot()
	if want := c.Now().Add(-time.Minute); !s.UpdatedAt.Equal(want) {
		t.Errorf("updatedAt = %v, want %v, the time of the last change", s.UpdatedAt, want)
	}
}

func TestTrackerIgnoresUnknownSecret(t *testing.T) {
	tr := NewTracker(CommandWatch)
	tr.SetSecrets(secretsNamed("db"))
	tr.SecretDone("removed", nil, nil)

	if got := secretNames(tr.Snapshot()); len(got) != 1 || got[0] != "db" {
		t.Errorf("secrets = %v, want only db", got)
	}
}

func TestTrackerReload(t *testing.T) {
	c := newClock()
	tr := newTrackerWithClock(CommandWatch, c.Now)
	tr.SetSecrets(secretsNamed("db", "tls", "api"))
	tr.SecretDone("db", nil, nil)
	tr.SecretDone("tls", nil, errors.New("tls failed"))
	before := tr.Snapshot()

	reloaded := secretsNamed("new", "tls", "db")
	reloaded[2].MaxStale = 10 * time.Minute
	reloaded[2].Files = append(reloaded[2].Files, config.File{Path: "/out/db2"})
	tr.SetSecrets(reloaded)
	after := tr.Snapshot()

	if got := strings.Join(secretNames(after), ","); got != "new,tls,db" {
		t.Fatalf("secrets after reload = %s, want new,tls,db in config order", got)
	}
	if s := findSecret(t, after, "new"); s.State != StatePending {
		t.Errorf("new secret state = %q, want pending", s.State)
	}
	db := findSecret(t, after, "db")
	if db.State != StateSynced || !db.LastSuccess.Equal(findSecret(t, before, "db").LastSuccess) {
		t.Errorf("db lost its state on reload: %+v", db)
	}
	if db.MaxStaleSeconds != 600 {
		t.Errorf("db maxStaleSeconds = %v, want 600 from the reloaded config", db.MaxStaleSeconds)
	}
	if db.Files != 2 {
		t.Errorf("db files = %d, want 2 from the reloaded config", db.Files)
	}
	if tls := findSecret(t, after, "tls"); tls.State != StateFailed || tls.LastError != "tls failed" {
		t.Errorf("tls lost its state on reload: %+v", tls)
	}

	// A late result for the removed secret must not bring it back.
	tr.SecretDone("api", nil, nil)
	for _, name := range secretNames(tr.Snapshot()) {
		if name == "api" {
			t.Error("removed secret api is back after a late SecretDone")
		}
	}
}

func TestTrackerStaleness(t *testing.T) {
	c := newClock()
	tr := newTrackerWithClock(CommandWatch, c.Now)
	secrets := secretsNamed("db", "forever")
	secrets[0].MaxStale = 10 * time.Minute
	tr.SetSecrets(secrets)
	tr.SecretDone("db", nil, nil)
	tr.SecretDone("forever", nil, nil)

	c.Advance(time.Minute)
	tr.SecretDone("db", nil, errors.New("server unreachable"))
	tr.SecretDone("forever", nil, errors.New("server unreachable"))

	c.Advance(8 * time.Minute) // 9 minutes since the last success
	if ready, reasons := tr.Ready(); !ready {
		t.Errorf("not ready 9m after the last success with maxStale 10m: %v", reasons)
	}
	if findSecret(t, tr.Snapshot(), "db").Stale {
		t.Error("db stale before its maxStale")
	}

	c.Advance(2 * time.Minute) // 11 minutes
	s := tr.Snapshot()
	if !findSecret(t, s, "db").Stale {
		t.Error("db not stale 11m after its last success with maxStale 10m")
	}
	if findSecret(t, s, "forever").Stale {
		t.Error("secret with maxStale 0 became stale")
	}
	ready, reasons := tr.Ready()
	if ready {
		t.Fatal("ready while db is stale")
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], `secret "db" is stale`) || !strings.Contains(reasons[0], "server unreachable") {
		t.Errorf("reasons = %q, want one naming db as stale with its error", reasons)
	}

	// A success ends the staleness.
	tr.SecretDone("db", nil, nil)
	if ready, reasons := tr.Ready(); !ready {
		t.Errorf("not ready after db recovered: %v", reasons)
	}
}

func TestTrackerTokenError(t *testing.T) {
	tr := NewTracker(CommandWatch)
	tr.SetSecrets(secretsNamed("db"))
	tr.SecretDone("db", nil, nil)

	tr.SetTokenErrors([]error{errors.New("token expired and cannot be renewed")})
	ready, reasons := tr.Ready()
	if ready {
		t.Fatal("ready with a token error")
	}
	if len(reasons) != 1 || reasons[0] != "token: token expired and cannot be renewed" {
		t.Errorf("reasons = %q", reasons)
	}
	if got := tr.Snapshot().TokenError; got != "token expired and cannot be renewed" {
		t.Errorf("tokenError = %q", got)
	}

	tr.SetTokenErrors(nil)
	if ready, reasons := tr.Ready(); !ready {
		t.Errorf("not ready after the token error was cleared: %v", reasons)
	}
}

func TestTrackerTokenErrorsOfSets(t *testing.T) {
	tr := NewTracker(CommandWatch)
	tr.SetSecrets(secretsNamed("db"))
	tr.SecretDone("db", nil, nil)

	tr.SetTokenErrors([]error{errors.New("login a denied"), errors.New("token b expired")})
	snap := tr.Snapshot()
	if snap.TokenError != "login a denied; token b expired" {
		t.Errorf("tokenError = %q, want both messages joined", snap.TokenError)
	}
	if !slices.Equal(snap.TokenErrors, []string{"login a denied", "token b expired"}) {
		t.Errorf("tokenErrors = %q, want one message per set", snap.TokenErrors)
	}

	tr.SetTokenErrors(nil)
	snap = tr.Snapshot()
	if snap.TokenError != "" || snap.TokenErrors != nil {
		t.Errorf("after clearing: tokenError = %q, tokenErrors = %q, want none", snap.TokenError, snap.TokenErrors)
	}
}

func TestTrackerMarkFinished(t *testing.T) {
	tr := NewTracker(CommandSyncOnce)
	tr.MarkFinished()
	if !tr.Snapshot().Finished {
		t.Error("finished = false after MarkFinished")
	}
}

func TestTrackerSnapshotIsCopy(t *testing.T) {
	tr := NewTracker(CommandWatch)
	tr.SetSecrets(secretsNamed("db"))
	s := tr.Snapshot()
	s.Secrets[0].State = StateFailed

	if got := tr.Snapshot().Secrets[0].State; got != StatePending {
		t.Errorf("changing a snapshot changed the tracker: state = %q", got)
	}
}

func TestTrackerEmptySnapshotHasList(t *testing.T) {
	s := NewTracker(CommandSyncOnce).Snapshot()
	if s.Secrets == nil {
		t.Error("secrets = nil, want an empty list so the JSON has []")
	}
}

// TestTrackerConcurrent runs every method at once; go test -race reports
// unguarded state.
func TestTrackerConcurrent(t *testing.T) {
	tr := NewTracker(CommandWatch)
	names := []string{"a", "b", "c", "d"}
	tr.SetSecrets(secretsNamed(names...))
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				name := names[(worker+i)%len(names)]
				var err error
				if i%3 == 0 {
					err = fmt.Errorf("attempt %d failed", i)
				}
				tr.SecretDone(name, []sink.Result{{Path: "/out/" + name, Changed: i%2 == 0}}, err)
				tr.ReadDone([]string{name}, time.Millisecond, err)
				if i%50 == 0 {
					tr.SetSecrets(secretsNamed(names...))
					var tokenErrors []error
					if err != nil {
						tokenErrors = []error{err}
					}
					tr.SetTokenErrors(tokenErrors)
				}
				_ = tr.Snapshot()
				_, _ = tr.Ready()
			}
		}()
	}
	wg.Wait()
	if got := len(tr.Snapshot().Secrets); got != len(names) {
		t.Errorf("secrets = %d, want %d", got, len(names))
	}
}
