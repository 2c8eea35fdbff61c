package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// isreadyConfig is a config with two secrets read from isready/<test>/.
func isreadyConfig(t *testing.T, dir, prefix string) string {
	t.Helper()
	return writeConfig(t, dir, fmt.Sprintf(`
secretStore:
  address: ${VAULT_ADDR}
  token: ${VAULT_TOKEN}
secrets:
  - name: db
    key: %[1]s/db
    files:
      - path: out/db-password
        field: password
  - name: api
    key: %[1]s/api
    files:
      - path: out/api.env
        template: 'API_KEY={{ .key }}'
`, prefix))
}

// expectOneLine fails unless text is exactly one line that contains every
// part.
func expectOneLine(t *testing.T, text string, parts ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Errorf("stderr has %d lines, want one:\n%s", len(lines), text)
	}
	for _, part := range parts {
		if !strings.Contains(text, part) {
			t.Errorf("stderr lacks %q:\n%s", part, text)
		}
	}
}

func TestIsReadyAfterSyncOnce(t *testing.T) {
	const password, apiKey = "status-value-pw-4d1e", "status-value-key-8b2f"
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "isready/ok/db", map[string]any{"password": password})
	s.WriteKV2(t, "secret", "isready/ok/api", map[string]any{"key": apiKey})
	dir := t.TempDir()
	cfg := isreadyConfig(t, dir, "isready/ok")
	statusFile := filepath.Join(dir, "status.json")

	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--status-file", statusFile)
	expectCode(t, res, 0)

	res = run(t, dir, nil, "isready", "--status-file", statusFile)
	expectCode(t, res, 0)
	if !strings.HasPrefix(res.stdout, "ready: 2 secrets synced") {
		t.Errorf("stdout = %q, want it to start with ready: 2 secrets synced", res.stdout)
	}
	if res.stderr != "" {
		t.Errorf("stderr = %q, want nothing when ready", res.stderr)
	}

	got, err := status.ReadFile(statusFile)
	if err != nil {
		t.Fatal(err)
	}
	if got.Command != status.CommandSyncOnce || !got.Finished {
		t.Errorf("command = %q, finished = %v, want sync --once and true", got.Command, got.Finished)
	}
	for _, secret := range got.Secrets {
		if secret.State != status.StateSynced || secret.ChangedFiles != 1 || secret.Files != 1 {
			t.Errorf("secret %+v, want synced with 1 file changed", secret)
		}
	}
	if mode := fileMode(t, statusFile); mode != 0o644 {
		t.Errorf("status file mode = %04o, want 0644", mode)
	}
	text := readFile(t, statusFile)
	for _, marker := range []string{password, apiKey, s.RootToken} {
		if strings.Contains(text, marker) {
			t.Errorf("status file contains %q:\n%s", marker, text)
		}
	}
}

func TestIsReadyAfterFailedSync(t *testing.T) {
	s := vaulttest.Shared(t)
	// api is not written, so its read fails with 404.
	s.WriteKV2(t, "secret", "isready/failed/db", map[string]any{"password": "pw"})
	dir := t.TempDir()
	cfg := isreadyConfig(t, dir, "isready/failed")
	statusFile := filepath.Join(dir, "status.json")

	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--status-file", statusFile)
	expectCode(t, res, 4)

	res = run(t, dir, nil, "isready", "--status-file", statusFile)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, "not ready", `secret "api" has never synced`, "404")
	if strings.Contains(res.stderr, `"db"`) {
		t.Errorf("stderr names db, which synced:\n%s", res.stderr)
	}
}

// TestIsReadyEarlierRunDoesNotCount checks that a pass that stops early
// (here on an invalid config) replaces the file of an earlier good pass.
func TestIsReadyEarlierRunDoesNotCount(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "isready/earlier/db", map[string]any{"password": "pw"})
	s.WriteKV2(t, "secret", "isready/earlier/api", map[string]any{"key": "k"})
	dir := t.TempDir()
	cfg := isreadyConfig(t, dir, "isready/earlier")
	statusFile := filepath.Join(dir, "status.json")
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--status-file", statusFile), 0)
	expectCode(t, run(t, dir, nil, "isready", "--status-file", statusFile), 0)

	broken := writeConfig(t, dir, "secrets: [\n")
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", broken, "--status-file", statusFile), 2)

	res := run(t, dir, nil, "isready", "--status-file", statusFile)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, "stopped before its pass finished")
}

func TestIsReadyMissingFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "absent.json")
	res := run(t, dir, nil, "isready", "--status-file", missing)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, missing, "does not exist")
}

func TestIsReadyUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	if err := os.WriteFile(path, []byte(`{"pid": 1, "comm`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, dir, nil, "isready", "--status-file", path)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, path, "invalid JSON")
}

// deadPID returns the pid of a child that has exited and been waited for.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// writeStatus writes a status with one secret, synced or not, for pid.
func writeStatus(t *testing.T, path, command string, pid int, finished bool, secret status.SecretStatus) {
	t.Helper()
	now := time.Now()
	s := status.Status{
		PID: pid, StartedAt: now, Command: command, UpdatedAt: now, Finished: finished,
		Secrets: []status.SecretStatus{secret},
	}
	if err := status.WriteFile(path, s); err != nil {
		t.Fatal(err)
	}
}

func TestIsReadyWatchStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	now := time.Now()
	synced := status.SecretStatus{Name: "db", State: status.StateSynced, LastAttempt: now, LastSuccess: now, Files: 1}

	tests := []struct {
		name   string
		pid    int
		secret status.SecretStatus
		code   int
		stderr string
	}{
		{"alive and synced", os.Getpid(), synced, 0, ""},
		{"dead watcher", deadPID(t), synced, 1, "is not running"},
		{"alive but pending", os.Getpid(), status.SecretStatus{Name: "db", State: status.StatePending}, 1, `secret "db" has not synced yet`},
		{"alive but stale", os.Getpid(), status.SecretStatus{
			Name: "db", State: status.StateFailed, LastSuccess: now.Add(-time.Hour), LastAttempt: now,
			MaxStaleSeconds: 60, LastError: "server unreachable",
		}, 1, `secret "db" is stale`},
		{"alive, failing within maxStale", os.Getpid(), status.SecretStatus{
			Name: "db", State: status.StateFailed, LastSuccess: now.Add(-30 * time.Second), LastAttempt: now,
			MaxStaleSeconds: 3600, LastError: "server unreachable",
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeStatus(t, path, status.CommandWatch, tt.pid, false, tt.secret)
			res := run(t, dir, nil, "isready", "--status-file", path)
			expectCode(t, res, tt.code)
			if tt.code != 0 {
				expectOneLine(t, res.stderr, tt.stderr)
			}
		})
	}
}

func TestIsReadySyncOnceNotFinished(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	pending := status.SecretStatus{Name: "db", State: status.StatePending}

	writeStatus(t, path, status.CommandSyncOnce, os.Getpid(), false, pending)
	res := run(t, dir, nil, "isready", "--status-file", path)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, "has not finished its pass yet")

	writeStatus(t, path, status.CommandSyncOnce, deadPID(t), false, pending)
	res = run(t, dir, nil, "isready", "--status-file", path)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, "stopped before its pass finished")

	// A finished pass counts whether or not its process still runs.
	now := time.Now()
	writeStatus(t, path, status.CommandSyncOnce, deadPID(t), true, status.SecretStatus{Name: "db", State: status.StateSynced, LastSuccess: now})
	expectCode(t, run(t, dir, nil, "isready", "--status-file", path), 0)
}

func TestIsReadyStatusFileVariables(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	now := time.Now()
	writeStatus(t, good, status.CommandWatch, os.Getpid(), false, status.SecretStatus{Name: "db", State: status.StateSynced, LastSuccess: now})
	missing := filepath.Join(dir, "absent.json")

	expectCode(t, run(t, dir, []string{"STATUS_FILE=" + good}, "isready"), 0)
	expectCode(t, run(t, dir, []string{"SECRETS_SYNC_STATUS_FILE=" + good}, "isready"), 0)
	// SECRETS_SYNC_STATUS_FILE wins over STATUS_FILE, and the flag over both.
	expectCode(t, run(t, dir, []string{"SECRETS_SYNC_STATUS_FILE=" + missing, "STATUS_FILE=" + good}, "isready"), 1)
	expectCode(t, run(t, dir, []string{"SECRETS_SYNC_STATUS_FILE=" + missing}, "isready", "--status-file", good), 0)
	// The default path is in $TMPDIR.
	writeStatus(t, filepath.Join(dir, "secrets-sync.status.json"), status.CommandWatch, os.Getpid(), false, status.SecretStatus{Name: "db", State: status.StateSynced, LastSuccess: now})
	expectCode(t, run(t, dir, []string{"TMPDIR=" + dir}, "isready"), 0)
}

func TestSyncOnceStatusFileSettings(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "isready/settings/db", map[string]any{"password": "pw"})
	s.WriteKV2(t, "secret", "isready/settings/api", map[string]any{"key": "k"})
	dir := t.TempDir()
	cfg := isreadyConfig(t, dir, "isready/settings")

	fromVariable := filepath.Join(dir, "from-variable.json")
	res := run(t, dir, append(serverEnv(s), "STATUS_FILE="+fromVariable), "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	if _, err := status.ReadFile(fromVariable); err != nil {
		t.Errorf("sync --once with STATUS_FILE set: %v", err)
	}

	// By default the file goes to $TMPDIR; an empty --status-file turns it off.
	tmp := t.TempDir()
	res = run(t, dir, append(serverEnv(s), "TMPDIR="+tmp), "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	if _, err := status.ReadFile(filepath.Join(tmp, "secrets-sync.status.json")); err != nil {
		t.Errorf("sync --once with no setting: %v", err)
	}
	off := t.TempDir()
	res = run(t, dir, append(serverEnv(s), "TMPDIR="+off), "sync", "--once", "-c", cfg, "--status-file", "")
	expectCode(t, res, 0)
	if entries, _ := os.ReadDir(off); len(entries) != 0 {
		t.Errorf("--status-file \"\" still wrote %s", entries[0].Name())
	}

	// A folder that cannot hold the file is a warning, not a failed pass.
	res = run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--status-file", filepath.Join(dir, "no-such-folder", "s.json"))
	expectCode(t, res, 0)
	if !strings.Contains(res.stderr, "status file not written") {
		t.Errorf("stderr lacks the warning:\n%s", res.stderr)
	}
}

// readyServer serves /readyz with code and counts the paths requested.
func readyServer(t *testing.T, code int, body string) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}

func TestIsReadyURL(t *testing.T) {
	dir := t.TempDir()
	ok, okPaths := readyServer(t, 200, `{"ready":true}`)
	res := run(t, dir, nil, "isready", "--url", ok.URL)
	expectCode(t, res, 0)
	if got := okPaths(); len(got) != 1 || got[0] != "/readyz" {
		t.Errorf("requested paths = %v, want [/readyz]", got)
	}

	notReady, _ := readyServer(t, 503, `{"ready":false,"reasons":["secret \"db\" has not synced yet"]}`)
	res = run(t, dir, nil, "isready", "--url", notReady.URL)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, "503", `secret "db" has not synced yet`)

	// A path in the URL is used as given, as for the earlier /ready.
	expectCode(t, run(t, dir, nil, "isready", "--url", ok.URL+"/ready"), 0)
	if got := okPaths(); got[len(got)-1] != "/ready" {
		t.Errorf("requested paths = %v, want the last to be /ready", got)
	}

	// A closed port is not ready, not a usage error.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	res = run(t, dir, nil, "isready", "--url", closedURL)
	expectCode(t, res, 1)
	expectOneLine(t, res.stderr, "connection refused")
}

func TestIsReadyURLUsage(t *testing.T) {
	dir := t.TempDir()
	for _, raw := range []string{"https://127.0.0.1:9180", "127.0.0.1:9180", "http://"} {
		res := run(t, dir, nil, "isready", "--url", raw)
		expectCode(t, res, 2)
		if !strings.Contains(res.stderr, "http://") {
			t.Errorf("--url %s: stderr does not say what to give:\n%s", raw, res.stderr)
		}
	}
	expectCode(t, run(t, dir, nil, "isready", "extra"), 2)
	expectCode(t, run(t, dir, nil, "isready", "--no-such-flag"), 2)
}

func TestIsReadyHelpListsExitCodes(t *testing.T) {
	res := run(t, t.TempDir(), nil, "isready", "--help")
	expectCode(t, res, 0)
	for _, want := range []string{"Exit codes:", "0  ready", "1  not ready", "2  usage error"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("isready --help lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "5  a destination") {
		t.Errorf("isready --help lists the sync exit codes:\n%s", res.stdout)
	}
}

// TestIsReadyEmptyEnvironment runs isready with no variable at all, not
// even PATH or HOME, in an empty folder.
func TestIsReadyEmptyEnvironment(t *testing.T) {
	statusDir := t.TempDir()
	path := filepath.Join(statusDir, "status.json")
	writeStatus(t, path, status.CommandWatch, os.Getpid(), false, status.SecretStatus{Name: "db", State: status.StateSynced, LastSuccess: time.Now()})
	ok, _ := readyServer(t, 200, `{"ready":true}`)

	for _, args := range [][]string{{"isready", "--status-file", path}, {"isready", "--url", ok.URL}} {
		cmd := exec.Command(binary(t), args...)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%v in an empty environment: %v\n%s", args, err, out)
		}
	}
}

// TestIsReadyChroot runs the static build that the Dockerfile makes in an
// empty root folder, as in a FROM scratch image: no /etc, no shell, no
// variables. It needs root for chroot.
func TestIsReadyChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(staticBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "secrets-sync"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	ok, _ := readyServer(t, 200, `{"ready":true}`)
	notReady, _ := readyServer(t, 503, `{"ready":false}`)

	chrootRun := func(args ...string) (int, string) {
		cmd := exec.Command("/secrets-sync", args...)
		cmd.Dir = "/"
		cmd.Env = []string{}
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if exitErr, isExit := err.(*exec.ExitError); isExit {
			return exitErr.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatalf("run %v in chroot: %v", args, err)
		}
		return 0, out.String()
	}

	// No file yet at the default path, /tmp/secrets-sync.status.json.
	if code, out := chrootRun("isready"); code != 1 || !strings.Contains(out, "/tmp/secrets-sync.status.json does not exist") {
		t.Errorf("isready with no file: code %d, output %q; want 1 naming the default path", code, out)
	}
	writeStatus(t, filepath.Join(root, "tmp", "secrets-sync.status.json"), status.CommandWatch, os.Getpid(), false,
		status.SecretStatus{Name: "db", State: status.StateSynced, LastSuccess: time.Now()})
	if code, out := chrootRun("isready"); code != 0 {
		t.Errorf("isready with a ready file: code %d, output %q; want 0", code, out)
	}
	if code, out := chrootRun("isready", "--url", ok.URL); code != 0 {
		t.Errorf("isready --url to a ready server: code %d, output %q; want 0", code, out)
	}
	if code, out := chrootRun("isready", "--url", notReady.URL); code != 1 {
		t.Errorf("isready --url to a server returning 503: code %d, output %q; want 1", code, out)
	}
}
