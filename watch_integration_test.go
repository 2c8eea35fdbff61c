package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// watchDeadline bounds every wait of the watch tests. It is generous,
// because the tests run in parallel on a loaded machine; a healthy run
// takes a few seconds per wait.
const watchDeadline = 45 * time.Second

// lockedBuffer is a bytes.Buffer that a process writes while a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watchProcess is a secrets-sync watch running in the background, with its
// health server on a free loopback port and its status file in its folder.
type watchProcess struct {
	dir        string
	env        []string
	listen     string
	statusFile string
	cmd        *exec.Cmd
	stderr     *lockedBuffer
	exited     chan struct{}
	exitCode   int
}

// startWatch starts the binary with args (the command first) at debug
// level with JSON logs. It is killed when the test ends, if still running.
func startWatch(t *testing.T, dir string, env []string, args ...string) *watchProcess {
	t.Helper()
	p := &watchProcess{
		dir:        dir,
		env:        env,
		listen:     freeAddress(t),
		statusFile: filepath.Join(dir, "status.json"),
		stderr:     &lockedBuffer{},
		exited:     make(chan struct{}),
	}
	args = append(args, "--log-level", "debug", "--log-format", "json", "--listen", p.listen, "--status-file", p.statusFile)
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Dir = dir
	p.cmd.Env = append([]string{"HOME=" + dir, "PATH=/usr/bin:/bin"}, env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exitCode = 0
		if exitErr, ok := err.(*exec.ExitError); ok {
			p.exitCode = exitErr.ExitCode()
		} else if err != nil {
			p.exitCode = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("secrets-sync log:\n%s", p.stderr.String())
		}
	})
	return p
}

// freeAddress returns a loopback address whose port was free a moment ago.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (p *watchProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *watchProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// stop sends SIGTERM and expects exit code 0.
func (p *watchProcess) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(watchDeadline):
		t.Fatal("watch did not exit after SIGTERM")
	}
	if p.exitCode != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", p.exitCode)
	}
}

// logLines returns the JSON log lines whose msg is msg and whose fields
// include every key/value pair of fields.
func (p *watchProcess) logLines(msg string, fields ...string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil || entry["msg"] != msg {
			continue
		}
		match := true
		for i := 0; i+1 < len(fields); i += 2 {
			if fmt.Sprint(entry[fields[i]]) != fields[i+1] {
				match = false
			}
		}
		if match {
			out = append(out, entry)
		}
	}
	return out
}

// waitLog waits until at least n log lines match msg and fields.
func (p *watchProcess) waitLog(t *testing.T, n int, msg string, fields ...string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d log lines %q %v", n, msg, fields), func() bool {
		return len(p.logLines(msg, fields...)) >= n
	})
}

// isReady reports whether "secrets-sync isready" exits 0 for the status
// file.
func (p *watchProcess) isReady(t *testing.T) bool {
	t.Helper()
	res := run(t, p.dir, p.env, "isready", "--status-file", p.statusFile)
	return res.code == 0
}

// readyz reports whether /readyz responds 200.
func (p *watchProcess) readyz(t *testing.T) bool {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + p.listen + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReadiness waits until isready and /readyz both report want.
func (p *watchProcess) waitReadiness(t *testing.T, want bool) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("isready and /readyz to report ready=%t", want), func() bool {
		return p.isReady(t) == want && p.readyz(t) == want
	})
}

// expectNoSecrets fails when the log contains any of values.
func (p *watchProcess) expectNoSecrets(t *testing.T, values ...string) {
	t.Helper()
	log := p.stderr.String()
	for _, v := range values {
		if strings.Contains(log, v) {
			t.Errorf("the log contains the secret or token %q", v)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", watchDeadline, what)
}

// waitFile waits until the file at path holds want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%s to hold %q", path, want), func() bool {
		data, err := os.ReadFile(path)
		return err == nil && string(data) == want
	})
}

func stat(t *testing.T, path string) (inode uint64, mtime time.Time) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino, info.ModTime()
}

// countLines returns the number of lines of path that equal line.
func countLines(t *testing.T, path, line string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l == line {
			n++
		}
	}
	return n
}

// replaceConfig writes text to a temporary file and renames it over path,
// as editors and deploy tools do.
func replaceConfig(t *testing.T, path, text string) {
	t.Helper()
	temp := path + ".new"
	if err := os.WriteFile(temp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(temp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchKeepsFilesFresh(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchfresh/changing", map[string]any{"v": "changing-value-1"})
	s.WriteKV2(t, "secret", "watchfresh/steady", map[string]any{"v": "steady-value-1"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
defaults: {refreshInterval: 1s}
secrets:
  - name: changing
    key: watchfresh/changing
    files:
      - {path: out/changing, field: v}
      - {path: out/changing.env, template: "V={{ .v }}"}
    onChange: {command: ["/bin/sh", "-c", "echo \"$SECRETS_SYNC_SECRET\" >> hooks.log"]}
  - name: steady
    key: watchfresh/steady
    files: [{path: out/steady, field: v}]
    onChange: {command: ["/bin/sh", "-c", "echo \"$SECRETS_SYNC_SECRET\" >> hooks.log"]}
`)
	p := startWatch(t, dir, serverEnv(s), "watch", "-c", cfg)
	changing := filepath.Join(dir, "out/changing")
	steady := filepath.Join(dir, "out/steady")
	hooks := filepath.Join(dir, "hooks.log")
	waitFile(t, changing, "changing-value-1")
	waitFile(t, steady, "steady-value-1")
	p.waitReadiness(t, true)
	waitUntil(t, "the first pass's hooks", func() bool {
		return countLines(t, hooks, "changing") == 1 && countLines(t, hooks, "steady") == 1
	})
	inode, mtime := stat(t, steady)

	s.WriteKV2(t, "secret", "watchfresh/changing", map[string]any{"v": "changing-value-2"})
	waitFile(t, changing, "changing-value-2")
	waitFile(t, filepath.Join(dir, "out/changing.env"), "V=changing-value-2")
	// Three more rounds of the steady secret, with nothing to write.
	seen := len(p.logLines("file unchanged", "secret", "steady"))
	p.waitLog(t, seen+3, "file unchanged", "secret", "steady")

	if gotInode, gotMtime := stat(t, steady); gotInode != inode || !gotMtime.Equal(mtime) {
		t.Errorf("unchanged file was rewritten: inode %d -> %d, mtime %v -> %v", inode, gotInode, mtime, gotMtime)
	}
	waitUntil(t, "the hook of the change", func() bool { return countLines(t, hooks, "changing") == 2 })
	if n := countLines(t, hooks, "changing"); n != 2 {
		t.Errorf("hook of the changed secret ran %d times, want 2: the first pass and one change of two files", n)
	}
	if n := countLines(t, hooks, "steady"); n != 1 {
		t.Errorf("hook of the unchanged secret ran %d times, want 1: the first pass only", n)
	}
	p.stop(t)
	p.expectNoSecrets(t, "changing-value-1", "changing-value-2", "steady-value-1", s.RootToken)
}

func TestWatchSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	s := vaulttest.Start(t)
	seed := func(value string) {
		s.WriteKV2(t, "secret", "outage/app", map[string]any{"v": value})
		s.WriteKV2(t, "secret", "outage/fresh", map[string]any{"v": "fresh-" + value})
	}
	seed("outage-value-1")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
defaults: {refreshInterval: 1s}
secrets:
  - {name: app, key: outage/app, files: [{path: out/app, field: v}]}
  - {name: fresh, key: outage/fresh, maxStale: 2s, files: [{path: out/fresh, field: v}]}
`)
	// sync without --once runs the watch loop.
	p := startWatch(t, dir, serverEnv(s), "sync", "-c", cfg)
	app := filepath.Join(dir, "out/app")
	waitFile(t, app, "outage-value-1")
	p.waitReadiness(t, true)

	s.Stop()
	p.waitLog(t, 1, "server unreachable, reads paused until it responds")
	// fresh allows 2s of failures, so the process turns not ready.
	p.waitReadiness(t, false)
	if !p.running() {
		t.Fatal("watch exited while the server was down")
	}
	if got := readFile(t, app); got != "outage-value-1" {
		t.Errorf("file during the outage = %q, want the last good value", got)
	}
	if n := len(p.logLines("server unreachable, reads paused until it responds")); n != 1 {
		t.Errorf("the outage was logged %d times as a warning, want once", n)
	}

	s.Restart(t)
	seed("outage-value-2")
	waitFile(t, app, "outage-value-2")
	waitFile(t, filepath.Join(dir, "out/fresh"), "fresh-outage-value-2")
	p.waitLog(t, 1, "server reachable again, reads resumed")
	p.waitReadiness(t, true)
	p.stop(t)
	p.expectNoSecrets(t, "outage-value-1", "outage-value-2", s.RootToken)
}

func TestWatchServerDownAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: down/app, refreshInterval: 1s, files: [{path: out/app, field: v}]}
`)
	// Nothing listens on the port, so every request is refused.
	address := "http://" + freeAddress(t)
	p := startWatch(t, dir, []string{"VAULT_ADDR=" + address, "VAULT_TOKEN=never-sent-to-a-server"}, "watch", "-c", cfg)
	p.waitLog(t, 1, "server unreachable, reads paused until it responds")
	p.waitReadiness(t, false)
	// Several probes later the process still runs and is still not ready.
	p.waitLog(t, 3, "server still unreachable")
	if !p.running() {
		t.Fatal("watch exited while the server was unreachable")
	}
	if p.isReady(t) || p.readyz(t) {
		t.Error("ready although no secret has synced")
	}
	if _, err := os.Stat(filepath.Join(dir, "out/app")); err == nil {
		t.Error("a file was written without a server")
	}
	if n := len(p.logLines("server unreachable, reads paused until it responds")); n != 1 {
		t.Errorf("the outage was logged %d times as a warning, want once", n)
	}
	p.stop(t)
	p.expectNoSecrets(t, "never-sent-to-a-server")
}

func TestWatchRenewsShortToken(t *testing.T) {
	t.Parallel()
	// The binary is built before the token exists, so that a slow build
	// does not use up the token's 4s.
	binary(t)
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchrenew/app", map[string]any{"v": "renew-value-1"})
	token := s.CreateToken(t, nil, "4s")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: watchrenew/app, refreshInterval: 1s, files: [{path: out/app, field: v}]}
`)
	p := startWatch(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + token}, "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/app"), "renew-value-1")
	// Four renewals of a 4s token take more than 10s, well past its TTL.
	p.waitLog(t, 4, "token renewed", "credentials", "default")
	s.WriteKV2(t, "secret", "watchrenew/app", map[string]any{"v": "renew-value-2"})
	waitFile(t, filepath.Join(dir, "out/app"), "renew-value-2")
	p.waitReadiness(t, true)
	p.stop(t)
	p.expectNoSecrets(t, "renew-value-1", "renew-value-2", token)
}

func TestWatchAppRoleLogsInAgain(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchapprole/app", map[string]any{"v": "approle-value-1"})
	s.WritePolicy(t, "watch-approle-read", `path "secret/data/watchapprole/*" { capabilities = ["read"] }`)
	roleID, secretID := s.EnableAppRoleTTL(t, "watch-short", []string{"watch-approle-read"}, "2s", "4s")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret-id"), []byte(secretID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: approle
  roleId: ${ROLE_ID}
  secretIdFile: secret-id
secrets:
  - {name: app, key: watchapprole/app, refreshInterval: 1s, files: [{path: out/app, field: v}]}
`)
	p := startWatch(t, dir, []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID}, "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/app"), "approle-value-1")
	// Each token lives at most 4s, so two new logins take more than 8s.
	p.waitLog(t, 2, "logged in again", "credentials", "default")
	s.WriteKV2(t, "secret", "watchapprole/app", map[string]any{"v": "approle-value-2"})
	waitFile(t, filepath.Join(dir, "out/app"), "approle-value-2")
	p.waitReadiness(t, true)
	if n := len(p.logLines("token not revoked")); n != 0 {
		t.Errorf("%d replaced tokens were not revoked", n)
	}
	p.stop(t)
	// Every token obtained by a login is revoked: when it is replaced,
	// or at shutdown for the last one. A replaced token that had expired
	// already counts as revoked.
	logins := len(p.logLines("logged in")) + len(p.logLines("logged in again"))
	revoked := len(p.logLines("token revoked")) + len(p.logLines("token not revoked, it is no longer valid"))
	if revoked != logins {
		t.Errorf("%d tokens revoked of %d obtained by logging in", revoked, logins)
	}
	p.expectNoSecrets(t, "approle-value-1", "approle-value-2", secretID, roleID)
}

// watchWithTokenFile writes token to dir/token and starts watch on one
// secret at path, read from that file every second, and waits until the
// secret's file out/app has value and the process is ready. It returns the
// process and the token file, which a test rewrites to replace the token.
func watchWithTokenFile(t *testing.T, s *vaulttest.Server, dir, path, value, token string) (*watchProcess, string) {
	t.Helper()
	tokenFile := filepath.Join(dir, "token")
	writeToken(t, tokenFile, token)
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}", tokenFile: token}
secrets:
  - {name: app, key: `+path+`, refreshInterval: 1s, files: [{path: out/app, field: v}]}
`)
	p := startWatch(t, dir, []string{"VAULT_ADDR=" + s.Addr}, "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/app"), value)
	p.waitReadiness(t, true)
	return p, tokenFile
}

// writeToken replaces the token in file, with the line break an editor adds.
func writeToken(t *testing.T, file, token string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatchRevokedTokenNotReady(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchrevoked/app", map[string]any{"v": "revoked-value-1"})
	first := s.CreateToken(t, nil, "1h")
	dir := t.TempDir()
	p, tokenFile := watchWithTokenFile(t, s, dir, "watchrevoked/app", "revoked-value-1", first)

	if err := s.Client(t).Auth().Token().RevokeOrphan(first); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, 1, "token no longer valid, secrets of this credential set are not read")
	p.waitReadiness(t, false)
	status := readFile(t, p.statusFile)
	if !strings.Contains(status, "is no longer valid") {
		t.Errorf("status file has no token error:\n%s", status)
	}
	// The revoked token had most of its hour left.
	series := `secrets_sync_token_ttl_seconds{credentials="default"}`
	if got := p.metricValue(t, series); got != "-1" {
		t.Errorf("%s = %q after the token was revoked, want -1", series, got)
	}

	second := s.CreateToken(t, nil, "1h")
	writeToken(t, tokenFile, second)
	p.waitLog(t, 1, "token valid again")
	s.WriteKV2(t, "secret", "watchrevoked/app", map[string]any{"v": "revoked-value-2"})
	waitFile(t, filepath.Join(dir, "out/app"), "revoked-value-2")
	p.waitReadiness(t, true)
	if n := len(p.logLines("token no longer valid, secrets of this credential set are not read")); n != 1 {
		t.Errorf("the broken token was logged %d times, want once", n)
	}
	p.stop(t)
	p.expectNoSecrets(t, "revoked-value-1", "revoked-value-2", first, second)
}

func TestWatchExpiredTokenNotReady(t *testing.T) {
	t.Parallel()
	// As in TestWatchRenewsShortToken, the build comes before the token.
	binary(t)
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchexpired/app", map[string]any{"v": "expired-value-1"})
	renewable := false
	created, err := s.Client(t).Auth().Token().Create(&api.TokenCreateRequest{TTL: "3s", Renewable: &renewable})
	if err != nil {
		t.Fatal(err)
	}
	first := created.Auth.ClientToken
	dir := t.TempDir()
	p, tokenFile := watchWithTokenFile(t, s, dir, "watchexpired/app", "expired-value-1", first)

	// The token cannot be renewed, so it expires after 3s.
	p.waitLog(t, 1, "token no longer valid, secrets of this credential set are not read")
	p.waitReadiness(t, false)
	if got := readFile(t, filepath.Join(dir, "out/app")); got != "expired-value-1" {
		t.Errorf("file after the token expired = %q, want the last good value", got)
	}
	series := `secrets_sync_token_ttl_seconds{credentials="default"}`
	if got := p.metricValue(t, series); got != "-1" {
		t.Errorf("%s = %q after the token expired, want -1", series, got)
	}

	second := s.CreateToken(t, nil, "1h")
	writeToken(t, tokenFile, second)
	s.WriteKV2(t, "secret", "watchexpired/app", map[string]any{"v": "expired-value-2"})
	waitFile(t, filepath.Join(dir, "out/app"), "expired-value-2")
	p.waitReadiness(t, true)
	ttl, err := strconv.ParseFloat(p.metricValue(t, series), 64)
	if err != nil {
		t.Fatalf("%s after a new token: %v", series, err)
	}
	if ttl <= 0 || ttl > 3600 {
		t.Errorf("%s = %v for a new 1h token, want the time left, in (0, 3600]", series, ttl)
	}
	p.stop(t)
	p.expectNoSecrets(t, "expired-value-1", "expired-value-2", first, second)
}

func TestWatchReloadsConfig(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	for _, name := range []string{"a", "b", "c"} {
		s.WriteKV2(t, "secret", "watchreload/"+name, map[string]any{"v": name + "-reload-1"})
	}
	dir := t.TempDir()
	secretA := `  - {name: a, key: watchreload/a, files: [{path: out/a, field: v}]}
`
	secretB := `  - {name: b, key: watchreload/b, files: [{path: out/b, field: v}]}
`
	secretC := `  - {name: c, key: watchreload/c, files: [{path: out/c, field: v}]}
`
	header := `
secretStore: {address: "${VAULT_ADDR}"}
defaults: {refreshInterval: 1s}
secrets:
`
	cfg := writeConfig(t, dir, header+secretA)
	p := startWatch(t, dir, serverEnv(s), "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/a"), "a-reload-1")
	p.waitReadiness(t, true)

	// SIGHUP loads the file, which now has b too. The file watch is on,
	// so it may reload first; either way b starts.
	if err := os.WriteFile(cfg, []byte(header+secretA+secretB), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	waitFile(t, filepath.Join(dir, "out/b"), "b-reload-1")
	p.waitReadiness(t, true)
	// The lists of a reload are JSON lists, empty ones too, never null.
	applied := p.logLines("config applied")
	if len(applied) == 0 {
		t.Fatal("no config applied line after the reload")
	}
	for _, key := range []string{"added", "removed", "restarted"} {
		if _, ok := applied[0][key].([]any); !ok {
			t.Errorf("config applied: %s = %#v, want a list", key, applied[0][key])
		}
	}

	// A file replaced by a rename is reloaded: c starts, a stops.
	reloads := len(p.logLines("config reloaded", "reason", "the config file changed"))
	replaceConfig(t, cfg, header+secretB+secretC)
	waitFile(t, filepath.Join(dir, "out/c"), "c-reload-1")
	p.waitLog(t, reloads+1, "config reloaded", "reason", "the config file changed")
	s.WriteKV2(t, "secret", "watchreload/a", map[string]any{"v": "a-reload-2"})
	s.WriteKV2(t, "secret", "watchreload/b", map[string]any{"v": "b-reload-2"})
	waitFile(t, filepath.Join(dir, "out/b"), "b-reload-2")
	rounds := len(p.logLines("file unchanged", "secret", "c"))
	p.waitLog(t, rounds+2, "file unchanged", "secret", "c")
	if got := readFile(t, filepath.Join(dir, "out/a")); got != "a-reload-1" {
		t.Errorf("removed secret's file = %q, want it left as it was", got)
	}
	p.waitReadiness(t, true)

	// An invalid file is logged, and the running config stays.
	failures := len(p.logLines("config reload failed, the running config stays"))
	replaceConfig(t, cfg, header+"  - {name: broken, files: [{path: out/broken, field: v}]}\n")
	p.waitLog(t, failures+1, "config reload failed, the running config stays")
	p.waitLog(t, 1, "missing key; give the secret's path under its mount, such as app/db")
	s.WriteKV2(t, "secret", "watchreload/c", map[string]any{"v": "c-reload-2"})
	waitFile(t, filepath.Join(dir, "out/c"), "c-reload-2")
	p.waitReadiness(t, true)
	if _, err := os.Stat(filepath.Join(dir, "out/broken")); err == nil {
		t.Error("the invalid config's secret was written")
	}
	p.stop(t)
	p.expectNoSecrets(t, "a-reload-1", "b-reload-1", "c-reload-1", "a-reload-2", "b-reload-2", "c-reload-2", s.RootToken)
}

func TestWatchConfigWatchOff(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchoff/a", map[string]any{"v": "off-a"})
	s.WriteKV2(t, "secret", "watchoff/b", map[string]any{"v": "off-b"})
	dir := t.TempDir()
	header := `
secretStore: {address: "${VAULT_ADDR}"}
defaults: {refreshInterval: 1s}
secrets:
  - {name: a, key: watchoff/a, files: [{path: out/a, field: v}]}
`
	cfg := writeConfig(t, dir, header)
	p := startWatch(t, dir, append(serverEnv(s), "WATCH_CONFIG=false"), "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/a"), "off-a")

	replaceConfig(t, cfg, header+"  - {name: b, key: watchoff/b, files: [{path: out/b, field: v}]}\n")
	// Three rounds of a, each a second apart, are ample time for a file
	// watch to have reloaded.
	rounds := len(p.logLines("file unchanged", "secret", "a"))
	p.waitLog(t, rounds+3, "file unchanged", "secret", "a")
	if n := len(p.logLines("config reloaded")); n != 0 {
		t.Fatalf("the config was reloaded %d times with WATCH_CONFIG=false", n)
	}
	p.signal(t, syscall.SIGHUP)
	waitFile(t, filepath.Join(dir, "out/b"), "off-b")
	p.stop(t)
}

func TestWatchListenAddressTaken(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: a, key: watchlisten/a, files: [{path: out/a, field: v}]}
`)
	ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "watch", "-c", cfg, "--listen", taken.Addr().String(), "--status-file", filepath.Join(dir, "status.json"))
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=/usr/bin:/bin"}, serverEnv(s)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 2 {
		t.Fatalf("watch with a taken --listen address ended with %v, want exit code 2\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), taken.Addr().String()) || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("stderr does not give the address and the reason:\n%s", stderr.String())
	}
}

func TestSyncOnceRunsHookOnChange(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "oncehook/app", map[string]any{"v": "once-hook-1"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: app
    key: oncehook/app
    files: [{path: out/a, field: v}, {path: out/b, field: v}]
    onChange: {command: ["/bin/sh", "-c", "echo \"$SECRETS_SYNC_CHANGED_FILES\" | wc -l >> hooks.log"]}
`)
	hooks := filepath.Join(dir, "hooks.log")
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg), 0)
	if n := countLines(t, hooks, "2"); n != 1 {
		t.Errorf("after the first sync, the hook ran %d times for two changed files, want once", n)
	}
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg), 0)
	if data := readFile(t, hooks); strings.Count(data, "\n") != 1 {
		t.Errorf("the hook ran again for unchanged files; hooks.log:\n%s", data)
	}
	s.WriteKV2(t, "secret", "oncehook/app", map[string]any{"v": "once-hook-2"})
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg), 0)
	if n := countLines(t, hooks, "2"); n != 2 {
		t.Errorf("after a change, the hook ran %d times in all, want 2", n)
	}
}

func TestHookRunsRenderOfEverySecret(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "hookrender/db", map[string]any{"v": "hook-render-db"})
	s.WriteKV2(t, "secret", "hookrender/cache", map[string]any{"v": "hook-render-cache"})
	dir := t.TempDir()
	writeToken(t, filepath.Join(dir, "token"), s.RootToken)
	// The hook's environment keeps VAULT_ADDR but no token, so the token
	// comes from a file. The hook gets SECRETS_SYNC_SECRET=db, which must
	// not limit render to db.
	cfg := writeConfig(t, dir, fmt.Sprintf(`
secretStore: {address: "${VAULT_ADDR}", tokenFile: token}
secrets:
  - name: db
    key: hookrender/db
    files: [{path: out/db, field: v}]
    onChange:
      command: ["/bin/sh", "-c", "exec \"$0\" render -c config.yaml > rendered.txt", %q]
  - name: cache
    key: hookrender/cache
    files: [{path: out/cache, field: v}]
`, binary(t)))
	expectCode(t, run(t, dir, []string{"VAULT_ADDR=" + s.Addr}, "sync", "--once", "-c", cfg), 0)
	rendered := readFile(t, filepath.Join(dir, "rendered.txt"))
	for _, value := range []string{"hook-render-db", "hook-render-cache"} {
		if !strings.Contains(rendered, value) {
			t.Errorf("the hook's render lacks %q:\n%s", value, rendered)
		}
	}
}

func TestSyncOnceReportsRemovedLink(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "oncelinked/app", map[string]any{"v": "once-linked-1"})
	dir := t.TempDir()
	secret := `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: app
    key: oncelinked/app
    layout: linked
    onChange: {command: ["/bin/sh", "-c", "printf '%%s\\n' \"$SECRETS_SYNC_CHANGED_FILES\" > changed.log"]}
    files: [%s]
`
	both := writeConfig(t, dir, fmt.Sprintf(secret, "{path: out/a, field: v}, {path: out/b, field: v}"))
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", both), 0)
	removedPath := filepath.Join(dir, "out/b")
	if _, err := os.Lstat(removedPath); err != nil {
		t.Fatalf("the first sync did not write out/b: %v", err)
	}

	onlyA := writeConfig(t, dir, fmt.Sprintf(secret, "{path: out/a, field: v}"))
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", onlyA, "--log-format", "json")
	expectCode(t, res, 0)

	if _, err := os.Lstat(removedPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link of the dropped file out/b is still there: %v", err)
	}
	removed := jsonLogLines(res.stderr, "file removed")
	if len(removed) != 1 {
		t.Fatalf("%d \"file removed\" lines, expected 1:\n%s", len(removed), res.stderr)
	}
	if removed[0]["secret"] != "app" || removed[0]["file"] != removedPath || removed[0]["level"] != "info" {
		t.Errorf("file removed line = %v, expected level info, secret app and file %s", removed[0], removedPath)
	}
	if got := readFile(t, filepath.Join(dir, "changed.log")); got != removedPath+"\n" {
		t.Errorf("SECRETS_SYNC_CHANGED_FILES = %q, expected the removed link %s alone", got, removedPath)
	}
	summary := summaryLine(t, res.stderr)
	if summary["files_removed"] != float64(1) || summary["files_changed"] != float64(0) || summary["files_unchanged"] != float64(1) {
		t.Errorf("summary = %v, expected 1 removed, 0 changed and 1 unchanged", summary)
	}
}

// TestSyncOnceRemovesLeftoverVersions checks that sync --once removes, and
// logs, a version folder that a crashed linked write left, and keeps the
// current one.
func TestSyncOnceRemovesLeftoverVersions(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "oncelinkedleft/app", map[string]any{"v": "left-value-1"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: oncelinkedleft/app, layout: linked, files: [{path: out/a, field: v}]}
`)
	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg), 0)
	current, err := os.Readlink(filepath.Join(dir, "out", "..data"))
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, "out", "..2020_01_02_03_04_05.0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(leftover, "a"), 0o700); err != nil {
		t.Fatal(err)
	}

	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--log-format", "json")

	expectCode(t, res, 0)
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover version folder is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", current)); err != nil {
		t.Errorf("the current version folder %s was removed: %v", current, err)
	}
	if got := readFile(t, filepath.Join(dir, "out/a")); got != "left-value-1" {
		t.Errorf("out/a = %q, want the secret's value", got)
	}
	lines := jsonLogLines(res.stderr, "removed version folder left by an earlier run")
	if len(lines) != 1 || lines[0]["folder"] != leftover {
		t.Errorf("removal log lines = %v, want one naming %s:\n%s", lines, leftover, res.stderr)
	}
}

// TestSyncOnceFolderModesFollowFiles checks the folders that sync --once
// creates: r-x for the group where a file below may be read by the group,
// 0700 elsewhere, and the set-group-ID bit of a parent that has it.
func TestSyncOnceFolderModesFollowFiles(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "oncefolders/app", map[string]any{"v": "folders-value-1"})
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: app
    key: oncefolders/app
    files:
      - {path: shared/web/tls.key, field: v, mode: "0640"}
      - {path: private/deep/key, field: v}
`)

	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg), 0)

	want := map[string]os.FileMode{
		"shared/web":   0o750 | os.ModeSetgid,
		"private":      0o700,
		"private/deep": 0o700,
	}
	for rel, mode := range want {
		info, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode() & (os.ModePerm | os.ModeSetgid); got != mode {
			t.Errorf("%s mode = %v, want %v", rel, got, mode)
		}
	}
}
