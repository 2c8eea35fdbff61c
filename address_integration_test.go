package main_test

// Tests of a server address with a user and password in it, as a reverse
// proxy with basic auth in front of Vault needs: requests carry them, and
// no log line, error, status file or /readyz response shows the password.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// The passwords are shorter than the redactor's minimum length, so only
// the redaction of the address itself keeps them out of the output.
const (
	proxyPassword = "hunter2"
	wrongPassword = "letmein"
)

// basicAuthProxy starts a reverse proxy to s that rejects, with 401, every
// request without the user bob and proxyPassword. It returns its
// host:port.
func basicAuthProxy(t *testing.T, s *vaulttest.Server) string {
	t.Helper()
	target, err := url.Parse(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || user != "bob" || password != proxyPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="vault"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// addressWith returns the http address of hostPort with the user bob and
// password.
func addressWith(password, hostPort string) string {
	return "http://bob:" + password + "@" + hostPort
}

// redacted returns the address of hostPort as messages show it.
func redacted(hostPort string) string {
	return "http://bob:xxxxx@" + hostPort
}

// expectPasswordHidden fails when output, which source names, contains
// password.
func expectPasswordHidden(t *testing.T, source, output, password string) {
	t.Helper()
	if strings.Contains(output, password) {
		t.Errorf("%s shows the password %q:\n%s", source, password, output)
	}
}

// expectShown fails when output, which source names, lacks want.
func expectShown(t *testing.T, source, output, want string) {
	t.Helper()
	if !strings.Contains(output, want) {
		t.Errorf("%s lacks %q:\n%s", source, want, output)
	}
}

func addressConfig(t *testing.T, dir string, addresses ...string) string {
	t.Helper()
	return writeConfig(t, dir, `
secretStore:
  address: [`+strings.Join(addresses, ", ")+`]
secrets:
  - {name: app, key: address/app, files: [{path: out/v, field: v}]}
`)
}

func TestSyncOnceAddressPasswordFailover(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "address/app", map[string]any{"v": "through-the-proxy"})
	proxy := basicAuthProxy(t, s)
	closed := freeAddress(t)
	dir := t.TempDir()
	cfg := addressConfig(t, dir, addressWith(proxyPassword, closed), addressWith(proxyPassword, proxy))
	statusFile := filepath.Join(dir, "status.json")

	res := run(t, dir, []string{"VAULT_TOKEN=" + s.RootToken}, "sync", "--once", "-c", cfg,
		"--log-level", "debug", "--log-format", "json", "--status-file", statusFile)
	expectCode(t, res, 0)
	// Only a request with the user and password gets through the proxy.
	if got := readFile(t, filepath.Join(dir, "out/v")); got != "through-the-proxy" {
		t.Errorf("file = %q, want the value read through the proxy", got)
	}
	lines := jsonLogLines(res.stderr, "switched server")
	if len(lines) != 1 {
		t.Fatalf("switch logged %d times, want once:\n%s", len(lines), res.stderr)
	}
	if got := lines[0]["from"]; got != redacted(closed) {
		t.Errorf("switched from %v, want %s", got, redacted(closed))
	}
	if got := lines[0]["to"]; got != redacted(proxy) {
		t.Errorf("switched to %v, want %s", got, redacted(proxy))
	}
	expectPasswordHidden(t, "the log", res.stderr, proxyPassword)
	expectPasswordHidden(t, "standard output", res.stdout, proxyPassword)
	expectPasswordHidden(t, "the status file", readFile(t, statusFile), proxyPassword)
}

func TestSyncOnceAddressPasswordUnreachable(t *testing.T) {
	closed := freeAddress(t)
	dir := t.TempDir()
	cfg := addressConfig(t, dir, addressWith(proxyPassword, closed))
	statusFile := filepath.Join(dir, "status.json")

	res := run(t, dir, []string{"VAULT_TOKEN=never-sent-to-a-server"}, "sync", "--once", "-c", cfg,
		"--timeout", "2s", "--log-level", "debug", "--log-format", "json", "--status-file", statusFile)
	expectCode(t, res, 3)
	expectPasswordHidden(t, "the log", res.stderr, proxyPassword)
	expectPasswordHidden(t, "standard output", res.stdout, proxyPassword)
	retries := jsonLogLines(res.stderr, "login failed, retrying")
	if len(retries) == 0 {
		t.Fatalf("no login retry logged:\n%s", res.stderr)
	}
	if got := retries[0]["address"]; got != redacted(closed) {
		t.Errorf("retry address = %v, want %s", got, redacted(closed))
	}
	unreachable := "server " + redacted(closed) + " unreachable"
	expectShown(t, "the log", res.stderr, unreachable)
	if n := len(jsonLogLines(res.stderr, "command failed")); n != 1 {
		t.Errorf("the final error was logged %d times, want once:\n%s", n, res.stderr)
	}

	text := readFile(t, statusFile)
	expectPasswordHidden(t, "the status file", text, proxyPassword)
	expectShown(t, "the status file", text, unreachable)

	res = run(t, dir, nil, "isready", "--status-file", statusFile)
	expectCode(t, res, 1)
	expectPasswordHidden(t, "isready", res.stdout+res.stderr, proxyPassword)
	expectShown(t, "isready", res.stderr, unreachable)
}

func TestSyncOnceAddressPasswordRejected(t *testing.T) {
	s := vaulttest.Shared(t)
	proxy := basicAuthProxy(t, s)
	dir := t.TempDir()
	cfg := addressConfig(t, dir, addressWith(wrongPassword, proxy))
	statusFile := filepath.Join(dir, "status.json")

	res := run(t, dir, []string{"VAULT_TOKEN=" + s.RootToken}, "sync", "--once", "-c", cfg,
		"--timeout", "5s", "--log-level", "debug", "--log-format", "json", "--status-file", statusFile)
	expectCode(t, res, 3)
	expectPasswordHidden(t, "the log", res.stderr, wrongPassword)
	expectPasswordHidden(t, "standard output", res.stdout, wrongPassword)
	failed := jsonLogLines(res.stderr, "login failed")
	if len(failed) == 0 {
		t.Fatalf("no failed login logged:\n%s", res.stderr)
	}
	if got := failed[0]["address"]; got != redacted(proxy) {
		t.Errorf("login failure address = %v, want %s", got, redacted(proxy))
	}
	expectShown(t, "the log", res.stderr, "401")
	expectShown(t, "the log", res.stderr, "rejected by a proxy in front of the server")
	expectShown(t, "the log", res.stderr, "check the user and password in the server address (VAULT_ADDR")
	if strings.Contains(res.stderr, "invalid or expired") {
		t.Errorf("the log blames the token for the proxy's 401:\n%s", res.stderr)
	}
	expectPasswordHidden(t, "the status file", readFile(t, statusFile), wrongPassword)
}

func TestValidateAddressPassword(t *testing.T) {
	closed := freeAddress(t)
	dir := t.TempDir()
	env := []string{"VAULT_TOKEN=never-sent-to-a-server"}

	// An http address off loopback gets a warning that names it.
	cfg := addressConfig(t, dir, addressWith(proxyPassword, "vault.example.com:8200"))
	res := run(t, dir, env, "validate", "-c", cfg)
	expectCode(t, res, 0)
	expectPasswordHidden(t, "validate", res.stdout+res.stderr, proxyPassword)
	expectShown(t, "validate", res.stdout, redacted("vault.example.com:8200")+" sends tokens and secrets unencrypted")

	cfg = addressConfig(t, dir, addressWith(proxyPassword, closed))
	for _, format := range []string{"text", "json"} {
		res := run(t, dir, env, "validate", "--online", "--format", format, "--timeout", "2s", "-c", cfg)
		expectCode(t, res, 3)
		expectPasswordHidden(t, "validate --online --format "+format, res.stdout+res.stderr, proxyPassword)
		expectShown(t, "validate --online --format "+format, res.stdout, "server "+redacted(closed)+" unreachable")
		expectShown(t, "validate --online --format "+format, res.stdout+res.stderr, "online at "+redacted(closed))
	}
}

func TestRenderAddressPassword(t *testing.T) {
	closed := freeAddress(t)
	dir := t.TempDir()
	cfg := addressConfig(t, dir, addressWith(proxyPassword, closed))

	res := run(t, dir, []string{"VAULT_TOKEN=never-sent-to-a-server"}, "render", "-c", cfg,
		"--timeout", "2s", "--log-level", "debug")
	expectCode(t, res, 3)
	expectPasswordHidden(t, "render", res.stdout+res.stderr, proxyPassword)
	expectShown(t, "render", res.stderr, redacted(closed))
}

func TestWatchAddressPasswordOutage(t *testing.T) {
	t.Parallel()
	closed := freeAddress(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: address/app, refreshInterval: 1s, files: [{path: out/v, field: v}]}
`)
	env := []string{"VAULT_ADDR=" + addressWith(proxyPassword, closed), "VAULT_TOKEN=never-sent-to-a-server"}
	p := startWatch(t, dir, env, "watch", "-c", cfg)
	p.waitLog(t, 1, "watch started", "address", redacted(closed))
	p.waitLog(t, 1, "server unreachable, reads paused until it responds", "address", redacted(closed))
	p.waitLog(t, 1, "server still unreachable", "address", redacted(closed))
	p.waitReadiness(t, false)

	body := readyzBody(t, p)
	expectPasswordHidden(t, "/readyz", body, proxyPassword)
	expectShown(t, "/readyz", body, redacted(closed))
	status := readFile(t, p.statusFile)
	expectPasswordHidden(t, "the status file", status, proxyPassword)
	expectShown(t, "the status file", status, redacted(closed))
	res := run(t, dir, nil, "isready", "--status-file", p.statusFile)
	expectCode(t, res, 1)
	expectPasswordHidden(t, "isready", res.stdout+res.stderr, proxyPassword)

	p.stop(t)
	expectPasswordHidden(t, "the log", p.stderr.String(), proxyPassword)
}

// readyzBody returns the body of the /readyz response of p.
func readyzBody(t *testing.T, p *watchProcess) string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + p.listen + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestIsReadyURLPassword(t *testing.T) {
	dir := t.TempDir()
	res := run(t, dir, nil, "isready", "--url", "https://bob:"+proxyPassword+"@127.0.0.1:9180")
	expectCode(t, res, 2)
	expectPasswordHidden(t, "isready with an https URL", res.stdout+res.stderr, proxyPassword)
	expectShown(t, "isready with an https URL", res.stderr, `"https://bob:xxxxx@127.0.0.1:9180"`)

	closed := freeAddress(t)
	res = run(t, dir, nil, "isready", "--url", addressWith(proxyPassword, closed))
	expectCode(t, res, 1)
	expectPasswordHidden(t, "isready with a closed port", res.stdout+res.stderr, proxyPassword)
	expectShown(t, "isready with a closed port", res.stderr, redacted(closed)+"/readyz")
}
