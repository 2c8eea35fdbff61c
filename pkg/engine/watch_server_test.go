package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

// fakeVault serves KV v2 reads and token lookups on loopback, and can act
// sealed or rate-limited. It counts the requests it gets.
type fakeVault struct {
	mu        sync.Mutex
	values    map[string]string // KV path under secret/ to the field v
	sealed    bool
	limitOnce map[string]time.Duration // path to a Retry-After for its next read
	requests  map[string]int           // by URL path
	times     map[string][]time.Time   // read times by URL path
	server    *httptest.Server
}

func startFakeVault(t *testing.T) *fakeVault {
	t.Helper()
	f := &fakeVault{values: map[string]string{}, limitOnce: map[string]time.Duration{}, requests: map[string]int{}, times: map[string][]time.Time{}}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.URL.Path]++
	f.times[r.URL.Path] = append(f.times[r.URL.Path], time.Now())
	w.Header().Set("Content-Type", "application/json")
	if f.sealed {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"errors":["Vault is sealed"]}`)
		return
	}
	if r.URL.Path == "/v1/auth/token/lookup-self" {
		fmt.Fprint(w, `{"data":{"ttl":0,"creation_ttl":0,"renewable":false}}`)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/secret/data/")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[]}`)
		return
	}
	if wait, limited := f.limitOnce[path]; limited {
		delete(f.limitOnce, path)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())))
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"errors":["rate limit quota exceeded"]}`)
		return
	}
	value, ok := f.values[path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[]}`)
		return
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"data": map[string]any{"v": value}}})
	w.Write(body)
}

func (f *fakeVault) set(path, value string) {
	f.mu.Lock()
	f.values[path] = value
	f.mu.Unlock()
}

func (f *fakeVault) setSealed(sealed bool) {
	f.mu.Lock()
	f.sealed = sealed
	f.mu.Unlock()
}

// total returns the number of requests so far.
func (f *fakeVault) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.requests {
		n += c
	}
	return n
}

func (f *fakeVault) reads(path string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times["/v1/secret/data/"+path]...)
}

func (f *fakeVault) config(secrets ...config.Secret) *config.Config {
	return &config.Config{
		File: "test.yaml",
		Store: config.Store{
			Addresses: []string{f.server.URL},
			Auth:      config.Auth{Method: config.AuthToken, Token: "test-token"},
		},
		Secrets: secrets,
	}
}

// diskSecret is a secret at path that writes its field v to one file in dir.
func diskSecret(dir, name, path string, refresh time.Duration) config.Secret {
	file := filepath.Join(dir, name)
	s := secretOf(name, path, config.File{Path: file, Dest: file, Field: "v", Mode: 0o600, UID: -1, GID: -1})
	s.Refresh = refresh
	return s
}

// runWatcher runs w on cfg until the test ends.
func runWatcher(t *testing.T, w *Watcher, cfg *config.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

// waitFor polls cond until it holds, and fails the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func fileIs(path, want string) func() bool {
	return func() bool {
		data, err := os.ReadFile(path)
		return err == nil && string(data) == want
	}
}

func TestWatchPausesWhileServerDown(t *testing.T) {
	f := startFakeVault(t)
	dir := t.TempDir()
	var secrets []config.Secret
	for i := range 20 {
		path := fmt.Sprintf("app%d", i)
		f.set(path, "one")
		secrets = append(secrets, diskSecret(dir, path, path, time.Second))
	}
	w := NewWatcher(sink.NewDisk(), WatchOptions{MinBackoff: 100 * time.Millisecond})
	runWatcher(t, w, f.config(secrets...))
	for _, s := range secrets {
		waitFor(t, "first pass of "+s.Name, fileIs(s.Files[0].Path, "one"))
	}

	f.setSealed(true)
	before := f.total()
	// Every secret falls due at least once within 1.1s, so three seconds
	// would see 60 reads without the breaker.
	time.Sleep(3 * time.Second)
	during := f.total() - before
	t.Logf("requests while sealed: %d", during)
	if during >= len(secrets) {
		t.Errorf("a sealed server got %d requests in 3s from %d secrets, want fewer than one per secret", during, len(secrets))
	}
	if during < 2 {
		t.Errorf("a sealed server got %d requests in 3s, want probes", during)
	}
	for _, s := range secrets {
		if got, _ := os.ReadFile(s.Files[0].Path); string(got) != "one" {
			t.Errorf("%s = %q during the outage, want the last good value", s.Name, got)
		}
	}

	for i := range 20 {
		f.set(fmt.Sprintf("app%d", i), "two")
	}
	f.setSealed(false)
	for _, s := range secrets {
		waitFor(t, "sync of "+s.Name+" after the server is back", fileIs(s.Files[0].Path, "two"))
	}
}

func TestWatchHonoursRetryAfter(t *testing.T) {
	f := startFakeVault(t)
	dir := t.TempDir()
	f.set("limited", "v1")
	f.limitOnce["limited"] = 2 * time.Second
	s := diskSecret(dir, "limited", "limited", time.Second)
	w := NewWatcher(sink.NewDisk(), WatchOptions{MinBackoff: 50 * time.Millisecond})
	runWatcher(t, w, f.config(s))
	waitFor(t, "the read after the 429", fileIs(s.Files[0].Path, "v1"))
	reads := f.reads("limited")
	if len(reads) < 2 {
		t.Fatalf("reads = %d, want the 429 and a retry", len(reads))
	}
	// The backoff alone would retry after at most a second.
	if gap := reads[1].Sub(reads[0]); gap < 2*time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 2, want at least 2s", gap)
	}
}

// countingHooks records the notifications of each secret.
type countingHooks struct {
	mu      sync.Mutex
	notices map[string][][]string
}

func (h *countingHooks) Notify(secret string, _ *config.OnChange, changed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notices == nil {
		h.notices = map[string][][]string{}
	}
	h.notices[secret] = append(h.notices[secret], changed)
}

func (h *countingHooks) count(secret string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.notices[secret])
}

// notice returns the changed paths of the nth notification of secret,
// counted from 0.
func (h *countingHooks) notice(secret string, n int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notices[secret][n]
}

// hookedSecret is the secret "app" at path app, whose field v goes to the
// files a and b in dir, with an onChange command.
func hookedSecret(dir string, refresh time.Duration) config.Secret {
	s := secretOf("app", "app",
		config.File{Path: filepath.Join(dir, "a"), Dest: "a", Field: "v", Mode: 0o600, UID: -1, GID: -1},
		config.File{Path: filepath.Join(dir, "b"), Dest: "b", Field: "v", Mode: 0o600, UID: -1, GID: -1},
	)
	s.Refresh = refresh
	s.OnChange = &config.OnChange{Command: []string{"true"}}
	return s
}

func TestWatchHookOncePerChange(t *testing.T) {
	f := startFakeVault(t)
	dir := t.TempDir()
	f.set("app", "one")
	s := hookedSecret(dir, time.Second)
	hooks := &countingHooks{}
	w := NewWatcher(sink.NewDisk(), WatchOptions{Hooks: hooks})
	runWatcher(t, w, f.config(s))

	waitFor(t, "the first pass", func() bool { return hooks.count("app") == 1 })
	// Two more rounds with the same value change nothing.
	waitFor(t, "two unchanged rounds", func() bool { return len(f.reads("app")) >= 3 })
	if n := hooks.count("app"); n != 1 {
		t.Errorf("hook notified %d times after unchanged rounds, want 1", n)
	}
	f.set("app", "two")
	waitFor(t, "the change", func() bool { return hooks.count("app") == 2 })
	if changed := hooks.notice("app", 1); len(changed) != 2 {
		t.Errorf("changed paths = %v, want both files in one notification", changed)
	}
}

func TestWatchHookListsRemovedLink(t *testing.T) {
	f := startFakeVault(t)
	dir := t.TempDir()
	f.set("app", "one")
	s := hookedSecret(dir, time.Hour)
	s.Layout = config.LayoutLinked
	hooks := &countingHooks{}
	w := NewWatcher(sink.NewDisk(), WatchOptions{Hooks: hooks})
	runWatcher(t, w, f.config(s))
	waitFor(t, "the first pass", func() bool { return hooks.count("app") == 1 })

	// The reload changes the secret, so it is read and written at once.
	s.Files = s.Files[:1]
	w.Reload(f.config(s))
	waitFor(t, "a hook notification for the write without b", func() bool { return hooks.count("app") == 2 })

	b := filepath.Join(dir, "b")
	if changed := hooks.notice("app", 1); len(changed) != 1 || changed[0] != b {
		t.Errorf("changed paths = %v, expected the removed link %s alone", changed, b)
	}
	if _, err := os.Lstat(b); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link of the dropped file b is still there: %v", err)
	}
}

func TestWatchReloadStartsAndStops(t *testing.T) {
	f := startFakeVault(t)
	dir := t.TempDir()
	f.set("kept", "k")
	f.set("dropped", "d")
	f.set("added", "a")
	kept := diskSecret(dir, "kept", "kept", time.Second)
	dropped := diskSecret(dir, "dropped", "dropped", time.Second)
	added := diskSecret(dir, "added", "added", time.Second)
	var reloaded []string
	var mu sync.Mutex
	w := NewWatcher(sink.NewDisk(), WatchOptions{Reloading: func(cfg *config.Config) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range cfg.Secrets {
			reloaded = append(reloaded, s.Name)
		}
	}})
	runWatcher(t, w, f.config(kept, dropped))
	waitFor(t, "the first pass", fileIs(dropped.Files[0].Path, "d"))

	w.Reload(f.config(kept, added))
	waitFor(t, "the added secret", fileIs(added.Files[0].Path, "a"))
	stoppedAt := len(f.reads("dropped"))
	waitFor(t, "two more reads of the kept secret", func() bool { return len(f.reads("kept")) >= 4 })
	if n := len(f.reads("dropped")); n > stoppedAt {
		t.Errorf("the removed secret was read %d more times after the reload", n-stoppedAt)
	}
	if _, err := os.Stat(dropped.Files[0].Path); err != nil {
		t.Errorf("the removed secret's file is gone: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(reloaded, ",") != "kept,added" {
		t.Errorf("Reloading got %v, want kept,added", reloaded)
	}
}
