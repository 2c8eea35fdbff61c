package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// fakeReader serves secrets from a map and records what it was asked.
type fakeReader struct {
	mu       sync.Mutex
	data     map[string]map[string]any
	failures map[string][]error // errors returned, in order, before data
	calls    map[string]int
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	delay    time.Duration
}

func (f *fakeReader) Read(ctx context.Context, req vault.Request) (*vault.Secret, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[req.Path]++
	if errs := f.failures[req.Path]; len(errs) > 0 {
		f.failures[req.Path] = errs[1:]
		return nil, errs[0]
	}
	d, ok := f.data[req.Path]
	if !ok {
		return nil, &vault.Error{Kind: vault.KindNotFound, Op: "read " + req.Path, Status: http.StatusNotFound}
	}
	return &vault.Secret{Data: d}, nil
}

// memorySink keeps what it was given.
type memorySink struct {
	mu    sync.Mutex
	files map[string]string
}

func (m *memorySink) Write(_ context.Context, _ string, files []sink.File) ([]sink.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string]string{}
	}
	results := make([]sink.Result, len(files))
	for i, f := range files {
		m.files[f.Path] = string(f.Content)
		results[i] = sink.Result{Path: f.Path, Changed: true}
	}
	return results, nil
}

func mustTemplate(t *testing.T, text string) *template.Template {
	t.Helper()
	tmpl, err := template.Parse("test", text)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func secretOf(name, path string, files ...config.File) config.Secret {
	return config.Secret{Name: name, Path: path, Mount: "secret", KVVersion: config.KVv2, Files: files}
}

func fieldFile(path, field string) config.File {
	return config.File{Path: path, Dest: path, Field: field, Mode: 0o600, UID: -1, GID: -1}
}

func sessionsOf(r Reader) *Sessions {
	return &Sessions{Readers: map[string]Reader{"": r}, Errors: map[string]error{}}
}

func fastOptions() Options {
	return Options{RetryDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond}
}

func TestRunDeduplicatesReads(t *testing.T) {
	r := &fakeReader{data: map[string]map[string]any{"app": {"a": "1", "b": "2"}}}
	out := &memorySink{}
	secrets := []config.Secret{
		secretOf("one", "app", fieldFile("/a", "a")),
		secretOf("two", "data/app", fieldFile("/b", "b")),
		secretOf("three", "app", fieldFile("/c", "a")),
	}
	report := NewPass(out, fastOptions()).Run(context.Background(), sessionsOf(r), secrets)
	if err := report.Err(); err != nil {
		t.Fatal(err)
	}
	if report.Reads != 1 {
		t.Errorf("reads = %d, want 1", report.Reads)
	}
	if total := r.calls["app"] + r.calls["data/app"]; total != 1 {
		t.Errorf("server calls = %d, want 1", total)
	}
	if out.files["/b"] != "2" {
		t.Errorf("/b = %q, want 2", out.files["/b"])
	}
}

func TestRunBoundsConcurrency(t *testing.T) {
	r := &fakeReader{data: map[string]map[string]any{}, delay: 5 * time.Millisecond}
	var secrets []config.Secret
	for i := range 40 {
		path := fmt.Sprintf("s%d", i)
		r.data[path] = map[string]any{"v": "x"}
		secrets = append(secrets, secretOf(path, path, fieldFile("/"+path, "v")))
	}
	opts := fastOptions()
	opts.Concurrency = 4
	report := NewPass(&memorySink{}, opts).Run(context.Background(), sessionsOf(r), secrets)
	if err := report.Err(); err != nil {
		t.Fatal(err)
	}
	if got := r.maxSeen.Load(); got > 4 {
		t.Errorf("max reads in flight = %d, want at most 4", got)
	}
	if got := r.maxSeen.Load(); got < 2 {
		t.Errorf("max reads in flight = %d, want reads in parallel", got)
	}
}

func TestRunRetriesTransientOnly(t *testing.T) {
	unavailable := &vault.Error{Kind: vault.KindUnavailable, Op: "read", Status: 503}
	forbidden := &vault.Error{Kind: vault.KindForbidden, Op: "read", Status: 403}
	r := &fakeReader{
		data: map[string]map[string]any{"flaky": {"v": "ok"}, "denied": {"v": "never"}},
		failures: map[string][]error{
			"flaky":  {unavailable, unavailable},
			"denied": {forbidden},
		},
	}
	secrets := []config.Secret{
		secretOf("flaky", "flaky", fieldFile("/flaky", "v")),
		secretOf("denied", "denied", fieldFile("/denied", "v")),
	}
	out := &memorySink{}
	report := NewPass(out, fastOptions()).Run(context.Background(), sessionsOf(r), secrets)
	if r.calls["flaky"] != 3 {
		t.Errorf("flaky calls = %d, want 3 (two failures, then success)", r.calls["flaky"])
	}
	if r.calls["denied"] != 1 {
		t.Errorf("denied calls = %d, want 1: a 403 is not retried", r.calls["denied"])
	}
	if out.files["/flaky"] != "ok" {
		t.Errorf("flaky not written after retries")
	}
	if report.Secrets[1].Err == nil || !errors.Is(report.Secrets[1].Err, forbidden) {
		t.Errorf("denied error = %v, want the 403", report.Secrets[1].Err)
	}
}

func TestRunGivesUpAtDeadline(t *testing.T) {
	down := &vault.Error{Kind: vault.KindUnreachable, Op: "read", Err: errors.New("connection refused")}
	failures := make([]error, 1000)
	for i := range failures {
		failures[i] = down
	}
	r := &fakeReader{data: map[string]map[string]any{}, failures: map[string][]error{"x": failures}}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, errors.New("--timeout reached"))
	defer cancel()
	report := NewPass(&memorySink{}, fastOptions()).Run(ctx, sessionsOf(r), []config.Secret{secretOf("x", "x", fieldFile("/x", "v"))})
	err := report.Err()
	var ve *vault.Error
	if !errors.As(err, &ve) || ve.Kind != vault.KindUnreachable {
		t.Fatalf("error = %v, want the last unreachable error", err)
	}
	if r.calls["x"] < 2 {
		t.Errorf("calls = %d, want retries before the deadline", r.calls["x"])
	}
}

// TestRetryLogGivesTimeLeft checks that a retried read logs how long the
// retries go on under a deadline, and logs no such key without one.
func TestRetryLogGivesTimeLeft(t *testing.T) {
	unavailable := &vault.Error{Kind: vault.KindUnavailable, Op: "read", Status: 503}
	for _, withDeadline := range []bool{true, false} {
		r := &fakeReader{
			data:     map[string]map[string]any{"flaky": {"v": "ok"}},
			failures: map[string][]error{"flaky": {unavailable}},
		}
		var logs bytes.Buffer
		opts := fastOptions()
		opts.Logger = log.NewWithOptions(&logs, log.Options{Formatter: log.LogfmtFormatter})
		ctx := context.Background()
		if withDeadline {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Minute)
			defer cancel()
		}

		report := NewPass(&memorySink{}, opts).Run(ctx, sessionsOf(r), []config.Secret{secretOf("flaky", "flaky", fieldFile("/flaky", "v"))})

		if err := report.Err(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), `msg="read failed, retrying"`) {
			t.Fatalf("deadline %v: no retry logged:\n%s", withDeadline, logs.String())
		}
		hasKey := strings.Contains(logs.String(), "gives_up_in=1m0s") || strings.Contains(logs.String(), "gives_up_in=59s")
		if hasKey != withDeadline {
			t.Errorf("deadline %v: gives_up_in of about 1m logged = %v:\n%s", withDeadline, hasKey, logs.String())
		}
		if !withDeadline && strings.Contains(logs.String(), "gives_up_in") {
			t.Errorf("no deadline: gives_up_in logged:\n%s", logs.String())
		}
	}
}

func TestRetryAfterSetsDelay(t *testing.T) {
	limited := &vault.Error{Kind: vault.KindUnavailable, Status: 429, RetryAfter: 300 * time.Millisecond}
	r := &fakeReader{
		data:     map[string]map[string]any{"x": {"v": "ok"}},
		failures: map[string][]error{"x": {limited}},
	}
	start := time.Now()
	report := NewPass(&memorySink{}, fastOptions()).Run(context.Background(), sessionsOf(r), []config.Secret{secretOf("x", "x", fieldFile("/x", "v"))})
	if err := report.Err(); err != nil {
		t.Fatal(err)
	}
	// The configured backoff is a few milliseconds, so a wait this long
	// can only come from Retry-After.
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("retried after %v, want at least the Retry-After of 300ms", waited)
	}
}

func TestRenderFailureWritesNothingOfSecret(t *testing.T) {
	r := &fakeReader{data: map[string]map[string]any{"app": {"user": "u"}}}
	out := &memorySink{}
	s := secretOf("app", "app",
		config.File{Path: "/user", Dest: "/user", Tmpl: mustTemplate(t, "{{ .user }}"), Mode: 0o600, UID: -1, GID: -1},
		config.File{Path: "/pass", Dest: "/pass", Tmpl: mustTemplate(t, "{{ .password }}"), Mode: 0o600, UID: -1, GID: -1},
	)
	other := secretOf("other", "app", fieldFile("/other", "user"))
	report := NewPass(out, fastOptions()).Run(context.Background(), sessionsOf(r), []config.Secret{s, other})
	var renderErr *RenderError
	if !errors.As(report.Secrets[0].Err, &renderErr) || renderErr.Path != "/pass" {
		t.Fatalf("error = %v, want a render error for /pass", report.Secrets[0].Err)
	}
	if !errors.Is(report.Secrets[0].Err, template.ErrMissingField) {
		t.Errorf("error does not wrap ErrMissingField: %v", report.Secrets[0].Err)
	}
	if _, written := out.files["/user"]; written {
		t.Errorf("/user written although /pass failed to render")
	}
	if out.files["/other"] != "u" {
		t.Errorf("other secret not written")
	}
	synced, failed, _, _, _ := report.Counts()
	if synced != 1 || failed != 1 {
		t.Errorf("counts = %d synced, %d failed; want 1 and 1", synced, failed)
	}
}

func TestRunLogsRemovedLink(t *testing.T) {
	dir := t.TempDir()
	r := &fakeReader{data: map[string]map[string]any{"app": {"v": "1"}}}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	s := secretOf("app", "app", fieldFile(a, "v"), fieldFile(b, "v"))
	s.Layout = config.LayoutLinked
	var logs bytes.Buffer
	opts := fastOptions()
	opts.Logger = log.NewWithOptions(&logs, log.Options{Formatter: log.LogfmtFormatter})
	pass := NewPass(sink.NewDisk(), opts)
	if err := pass.Run(context.Background(), sessionsOf(r), []config.Secret{s}).Err(); err != nil {
		t.Fatal(err)
	}

	s.Files = s.Files[:1]
	logs.Reset()
	report := pass.Run(context.Background(), sessionsOf(r), []config.Secret{s})

	if err := report.Err(); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`level=info msg="file removed" secret=app file=%s`, b); !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	if strings.Contains(logs.String(), "file written") {
		t.Errorf("log reports a written file, expected only the removed link:\n%s", logs.String())
	}
	_, _, changed, unchanged, removed := report.Counts()
	if changed != 0 || unchanged != 1 {
		t.Errorf("counts = %d changed and %d unchanged, expected 0 and 1 for the kept file", changed, unchanged)
	}
	if removed != 1 {
		t.Errorf("removed = %d, expected 1", removed)
	}
}

func TestLoginFailureFailsItsSecretsOnly(t *testing.T) {
	r := &fakeReader{data: map[string]map[string]any{"a": {"v": "1"}, "b": {"v": "2"}}}
	denied := &vault.Error{Kind: vault.KindAuth, Op: "log in"}
	sessions := &Sessions{Readers: map[string]Reader{"": r}, Errors: map[string]error{"team": denied}}
	b := secretOf("b", "b", fieldFile("/b", "v"))
	b.Credentials = "team"
	out := &memorySink{}
	report := NewPass(out, fastOptions()).Run(context.Background(), sessions, []config.Secret{secretOf("a", "a", fieldFile("/a", "v")), b})
	if report.Secrets[0].Err != nil {
		t.Errorf("secret a failed: %v", report.Secrets[0].Err)
	}
	if !errors.Is(report.Secrets[1].Err, denied) {
		t.Errorf("secret b error = %v, want the login error", report.Secrets[1].Err)
	}
	if r.calls["b"] != 0 {
		t.Errorf("secret b was read without a session")
	}
}

func TestTTLValueNamesNoExpiry(t *testing.T) {
	if got := ttlValue(0); got != "never expires" {
		t.Errorf("ttlValue(0) = %v, want never expires", got)
	}
	if got := ttlValue(90 * time.Second); got != 90*time.Second {
		t.Errorf("ttlValue(90s) = %v, want 1m30s", got)
	}
}
