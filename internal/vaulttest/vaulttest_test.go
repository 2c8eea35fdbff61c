package vaulttest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestMain(m *testing.M) { Main(m) }

// fakePEM is multi-line text shaped like a certificate, to check that
// newlines survive a write and read unchanged.
const fakePEM = "-----BEGIN CERTIFICATE-----\nTUlJQmZha2VjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n"

// seedData covers the value kinds that tests store: plain and multi-line
// strings, integer and decimal numbers, a boolean, a list and a nested object.
func seedData() map[string]any {
	return map[string]any{
		"username": "app-user",
		"password": `p@ss "word" \ with ünïcode`,
		"cert":     fakePEM,
		"port":     json.Number("5432"),
		"ratio":    json.Number("0.1"),
		"enabled":  true,
		"hosts":    []any{"db-1", "db-2"},
		"nested":   map[string]any{"level": json.Number("2")},
	}
}

// bigInteger has more digits than a float64 keeps exactly.
const bigInteger = "12345678901234567890"

// readRaw returns the body of a GET of path on s with the root token.
func readRaw(t *testing.T, s *Server, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxTimeout(t), http.MethodGet, s.Addr+"/v1/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", s.RootToken)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", req.URL, resp.StatusCode, body)
	}
	return string(body)
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartServesHealth(t *testing.T) {
	s := Start(t)

	if !strings.HasPrefix(s.Addr, "http://127.0.0.1:") {
		t.Errorf("Addr = %q, expected http://127.0.0.1:PORT", s.Addr)
	}
	if !strings.HasPrefix(s.RootToken, "root-") || len(s.RootToken) != len("root-")+32 {
		t.Errorf("RootToken = %q, expected root- and 32 hex digits", s.RootToken)
	}

	health, err := s.Client(t).Sys().HealthWithContext(ctxTimeout(t))
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	if !health.Initialized {
		t.Error("server not initialized")
	}
	if health.Sealed {
		t.Error("server sealed")
	}
	if !strings.HasPrefix(health.Version, "1.13.") {
		t.Errorf("server version = %q, expected the pinned 1.13 release (1.14 and later are not used)", health.Version)
	}
}

func TestStartNoTokenFileInHome(t *testing.T) {
	s := Start(t)

	entries, err := os.ReadDir(s.home)
	if err != nil {
		t.Fatalf("reading the server's home: %v", err)
	}
	for _, entry := range entries {
		if entry.Name() == ".vault-token" {
			t.Errorf("server wrote %s despite -dev-no-store-token", filepath.Join(s.home, entry.Name()))
		}
	}
}

func TestStartTwoServersDistinct(t *testing.T) {
	first := Start(t)
	second := Start(t)

	if first.Addr == second.Addr {
		t.Errorf("both servers have Addr %s", first.Addr)
	}
	if first.RootToken == second.RootToken {
		t.Error("both servers have the same root token")
	}
}

func TestWriteKV2ReadBackExact(t *testing.T) {
	s := Start(t)
	s.WriteKV2(t, "secret", "app/db", seedData())

	secret, err := s.Client(t).KVv2("secret").Get(ctxTimeout(t), "app/db")
	if err != nil {
		t.Fatalf("reading secret/app/db: %v", err)
	}
	if !reflect.DeepEqual(secret.Data, seedData()) {
		t.Errorf("read back %#v\nexpected %#v", secret.Data, seedData())
	}
	if secret.VersionMetadata == nil || secret.VersionMetadata.Version != 1 {
		t.Errorf("version metadata = %+v, expected version 1", secret.VersionMetadata)
	}
}

func TestWriteKV2NumbersStayNumbers(t *testing.T) {
	s := Start(t)
	s.WriteKV2(t, "secret", "app/numbers", map[string]any{"port": 5432, "ratio": json.Number("0.1")})

	body := readRaw(t, s, "secret/data/app/numbers")
	if !strings.Contains(body, `"port":5432`) {
		t.Errorf("response %s does not contain the integer port", body)
	}
	if !strings.Contains(body, `"ratio":0.1`) {
		t.Errorf("response %s does not contain the decimal ratio", body)
	}
}

// The KV v2 engine of Vault 1.13 stores numbers as float64, so this test
// fails, as a signal to update WriteKV2's documentation, if a new release
// keeps the digits.
func TestWriteKV2RoundsBigIntegers(t *testing.T) {
	s := Start(t)
	s.WriteKV2(t, "secret", "app/numbers", map[string]any{"big": json.Number(bigInteger)})

	body := readRaw(t, s, "secret/data/app/numbers")
	if !strings.Contains(body, `"big":12345678901234567000`) {
		t.Errorf("response %s, expected big rounded to float64 precision as 12345678901234567000", body)
	}
}

func TestWriteKV1KeepsBigIntegers(t *testing.T) {
	s := Start(t)
	s.EnableKV(t, "kv1", 1)
	s.WriteKV1(t, "kv1", "app/numbers", map[string]any{"big": json.Number(bigInteger)})

	body := readRaw(t, s, "kv1/app/numbers")
	if !strings.Contains(body, `"big":`+bigInteger) {
		t.Errorf("response %s does not contain the exact digits %s", body, bigInteger)
	}
}

func TestWriteKV2NewVersion(t *testing.T) {
	s := Start(t)
	s.WriteKV2(t, "secret", "app/rotating", map[string]any{"password": "old"})
	s.WriteKV2(t, "secret", "app/rotating", map[string]any{"password": "new"})

	secret, err := s.Client(t).KVv2("secret").Get(ctxTimeout(t), "app/rotating")
	if err != nil {
		t.Fatalf("reading secret/app/rotating: %v", err)
	}
	if got := secret.Data["password"]; got != "new" {
		t.Errorf("password = %v, expected new", got)
	}
	if secret.VersionMetadata == nil || secret.VersionMetadata.Version != 2 {
		t.Errorf("version metadata = %+v, expected version 2", secret.VersionMetadata)
	}
}

func TestEnableKV1WriteReadBack(t *testing.T) {
	s := Start(t)
	s.EnableKV(t, "kv1", 1)
	s.WriteKV1(t, "kv1", "app/db", seedData())

	client := s.Client(t)
	secret, err := client.KVv1("kv1").Get(ctxTimeout(t), "app/db")
	if err != nil {
		t.Fatalf("reading kv1/app/db: %v", err)
	}
	if !reflect.DeepEqual(secret.Data, seedData()) {
		t.Errorf("read back %#v\nexpected %#v", secret.Data, seedData())
	}

	mounts, err := client.Sys().ListMountsWithContext(ctxTimeout(t))
	if err != nil {
		t.Fatalf("listing mounts: %v", err)
	}
	mount, ok := mounts["kv1/"]
	if !ok {
		t.Fatal("mount kv1/ not listed")
	}
	if mount.Type != "kv" {
		t.Errorf("kv1/ type = %q, expected kv", mount.Type)
	}
	if mount.Options["version"] != "1" {
		t.Errorf("kv1/ options = %v, expected version 1", mount.Options)
	}
}

func TestEnableKV2WriteAtOnce(t *testing.T) {
	s := Start(t)
	s.EnableKV(t, "apps", 2)
	s.WriteKV2(t, "apps", "team/api", map[string]any{"apiKey": "k-123"})

	secret, err := s.Client(t).KVv2("apps").Get(ctxTimeout(t), "team/api")
	if err != nil {
		t.Fatalf("reading apps/team/api: %v", err)
	}
	if got := secret.Data["apiKey"]; got != "k-123" {
		t.Errorf("apiKey = %v, expected k-123", got)
	}
}

func TestRestartKeepsPortAndToken(t *testing.T) {
	s := Start(t)
	addr, token := s.Addr, s.RootToken
	s.WriteKV2(t, "secret", "app/db", map[string]any{"password": "before"})

	s.Restart(t)

	if s.Addr != addr {
		t.Errorf("Addr after restart = %s, expected %s", s.Addr, addr)
	}
	if s.RootToken != token {
		t.Error("root token changed on restart")
	}
	client := s.Client(t)
	_, err := client.KVv2("secret").Get(ctxTimeout(t), "app/db")
	if !errors.Is(err, api.ErrSecretNotFound) {
		t.Errorf("reading app/db after restart: error %v, expected %v because dev mode keeps data in memory", err, api.ErrSecretNotFound)
	}

	s.WriteKV2(t, "secret", "app/db", map[string]any{"password": "after"})
	secret, err := client.KVv2("secret").Get(ctxTimeout(t), "app/db")
	if err != nil {
		t.Fatalf("reading app/db after seeding again: %v", err)
	}
	if got := secret.Data["password"]; got != "after" {
		t.Errorf("password = %v, expected after", got)
	}
}

func TestStartTLSRestartNewCA(t *testing.T) {
	s := StartTLS(t)
	if !strings.HasPrefix(s.Addr, "https://127.0.0.1:") {
		t.Fatalf("Addr = %s, expected https://127.0.0.1:PORT", s.Addr)
	}
	before, err := os.ReadFile(s.CACert)
	if err != nil {
		t.Fatalf("reading CACert: %v", err)
	}
	if _, err := s.Client(t).Sys().HealthWithContext(ctxTimeout(t)); err != nil {
		t.Fatalf("health over TLS: %v", err)
	}

	// Vault writes its TLS files read-only. Without emptying the folder
	// first, a restart fails here for a user other than root, who can
	// overwrite them.
	s.Restart(t)

	after, err := os.ReadFile(s.CACert)
	if err != nil {
		t.Fatalf("reading CACert after restart: %v", err)
	}
	if string(after) == string(before) {
		t.Error("the CA is the same after restart, expected a new one")
	}
	if _, err := s.Client(t).Sys().HealthWithContext(ctxTimeout(t)); err != nil {
		t.Errorf("health over TLS after restart: %v", err)
	}
}

func TestEnableAuthTwice(t *testing.T) {
	s := Start(t)
	s.EnableAuth(t, "people", "userpass")
	s.EnableAuth(t, "people", "userpass")
	mounts, err := s.Client(t).Sys().ListAuthWithContext(ctxTimeout(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := mounts["people/"]; got == nil || got.Type != "userpass" {
		t.Errorf("auth mount people/ = %+v, expected type userpass", got)
	}
}

func TestStopIdempotent(t *testing.T) {
	s := Start(t)
	client := s.Client(t)
	s.Stop()
	s.Stop()

	// Another test's server may bind the freed port at once, so the check is
	// that the root token stops working, not that the port is closed.
	if _, err := client.Auth().Token().LookupSelfWithContext(ctxTimeout(t)); err == nil {
		t.Error("root token lookup succeeded after Stop")
	}
}

func TestStopThenRestart(t *testing.T) {
	s := Start(t)
	addr := s.Addr
	s.Stop()
	s.Restart(t)

	if s.Addr != addr {
		t.Errorf("Addr after restart = %s, expected %s", s.Addr, addr)
	}
	if _, err := s.Client(t).Sys().HealthWithContext(ctxTimeout(t)); err != nil {
		t.Errorf("health after restart: %v", err)
	}
}

func TestCreateTokenPolicyLimitsAccess(t *testing.T) {
	s := Start(t)
	s.WriteKV2(t, "secret", "demo/allowed", map[string]any{"value": "yes"})
	s.WriteKV2(t, "secret", "other/denied", map[string]any{"value": "no"})
	s.WritePolicy(t, "read-demo", `path "secret/data/demo/*" { capabilities = ["read"] }`)

	token := s.CreateToken(t, []string{"read-demo"}, "10m")
	client := s.Client(t)
	client.SetToken(token)

	secret, err := client.KVv2("secret").Get(ctxTimeout(t), "demo/allowed")
	if err != nil {
		t.Fatalf("reading demo/allowed with the policy token: %v", err)
	}
	if got := secret.Data["value"]; got != "yes" {
		t.Errorf("value = %v, expected yes", got)
	}

	_, err = client.KVv2("secret").Get(ctxTimeout(t), "other/denied")
	var responseErr *api.ResponseError
	if !errors.As(err, &responseErr) {
		t.Fatalf("reading other/denied: error %v, expected an HTTP 403 response error", err)
	}
	if responseErr.StatusCode != http.StatusForbidden {
		t.Errorf("reading other/denied: HTTP %d, expected 403", responseErr.StatusCode)
	}

	self, err := client.Auth().Token().LookupSelfWithContext(ctxTimeout(t))
	if err != nil {
		t.Fatalf("looking up the token: %v", err)
	}
	ttl, err := self.TokenTTL()
	if err != nil {
		t.Fatalf("reading the token TTL: %v", err)
	}
	if ttl <= 0 || ttl > 10*time.Minute {
		t.Errorf("token TTL = %s, expected at most 10m", ttl)
	}
	policies, err := self.TokenPolicies()
	if err != nil {
		t.Fatalf("reading the token policies: %v", err)
	}
	if !slices.Contains(policies, "read-demo") {
		t.Errorf("token policies = %v, expected read-demo", policies)
	}
}

func TestEnableAppRoleLogin(t *testing.T) {
	s := Start(t)
	s.WritePolicy(t, "read-demo", `path "secret/data/demo/*" { capabilities = ["read"] }`)

	roleID, secretID := s.EnableAppRole(t, "app", []string{"read-demo"})
	// A second role reuses the mount that the first call created.
	otherRoleID, _ := s.EnableAppRole(t, "other", []string{"default"})
	if otherRoleID == roleID {
		t.Error("two roles got the same role ID")
	}

	client := s.Client(t)
	client.ClearToken()
	login, err := client.Logical().WriteWithContext(ctxTimeout(t), "auth/approle/login", map[string]any{
		"role_id":   roleID,
		"secret_id": secretID,
	})
	if err != nil {
		t.Fatalf("AppRole login: %v", err)
	}
	if login == nil || login.Auth == nil || login.Auth.ClientToken == "" {
		t.Fatalf("AppRole login returned no token: %+v", login)
	}
	if !slices.Contains(login.Auth.TokenPolicies, "read-demo") {
		t.Errorf("login token policies = %v, expected read-demo", login.Auth.TokenPolicies)
	}
}

func TestEnableAppRoleAfterRestart(t *testing.T) {
	s := Start(t)
	s.EnableAppRole(t, "app", []string{"default"})
	s.Restart(t)

	roleID, secretID := s.EnableAppRole(t, "app", []string{"default"})
	if roleID == "" || secretID == "" {
		t.Errorf("role ID %q, secret ID %q, expected both set", roleID, secretID)
	}
}

func TestClientIgnoresVaultEnv(t *testing.T) {
	s := Start(t)
	t.Setenv("VAULT_TOKEN", "not-the-root-token")
	t.Setenv("VAULT_NAMESPACE", "missing-namespace")
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")

	client := s.Client(t)
	if client.Token() != s.RootToken {
		t.Error("client token is not the root token")
	}
	if client.Address() != s.Addr {
		t.Errorf("client address = %s, expected %s", client.Address(), s.Addr)
	}
	if _, err := client.Auth().Token().LookupSelfWithContext(ctxTimeout(t)); err != nil {
		t.Errorf("token lookup with VAULT_* set in the environment: %v", err)
	}
}

func TestServerEnvDropsVaultVariables(t *testing.T) {
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_TOKEN", "caller-token")
	t.Setenv("SECRETS_SYNC_TEST_MARKER", "kept")

	env := serverEnv("/tmp/server-home")

	for _, entry := range env {
		if strings.HasPrefix(entry, "VAULT_") {
			t.Errorf("server environment contains %s", entry)
		}
	}
	homes := 0
	for _, entry := range env {
		if strings.HasPrefix(entry, "HOME=") {
			homes++
			if entry != "HOME=/tmp/server-home" {
				t.Errorf("server environment contains %s, expected HOME=/tmp/server-home", entry)
			}
		}
	}
	if homes != 1 {
		t.Errorf("server environment has %d HOME entries, expected 1", homes)
	}
	if !slices.Contains(env, "SECRETS_SYNC_TEST_MARKER=kept") {
		t.Error("server environment dropped an unrelated variable")
	}
}

func TestBinaryEnvMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-vault")
	t.Setenv(BinaryEnv, missing)

	_, err := Binary()
	if err == nil {
		t.Fatal("Binary accepted a missing file")
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name %s", err, missing)
	}
}

func TestBinaryEnvNotExecutable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(path, []byte("not a binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinaryEnv, path)

	_, err := Binary()
	if err == nil {
		t.Fatal("Binary accepted a file without execute permission")
	}
	if !strings.Contains(err.Error(), "not executable") {
		t.Errorf("error %q, expected it to say not executable", err)
	}
}

func TestModuleRootFound(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("moduleRoot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "vault-server.sh")); err != nil {
		t.Errorf("module root %s has no scripts/vault-server.sh: %v", root, err)
	}
}

func TestSharedReturnsOneServer(t *testing.T) {
	first := Shared(t)
	second := Shared(t)

	if first != second {
		t.Errorf("Shared returned two servers: %s and %s", first.Addr, second.Addr)
	}
	first.WriteKV2(t, "secret", "shared-test/one", map[string]any{"value": "1"})
	secret, err := second.Client(t).KVv2("secret").Get(ctxTimeout(t), "shared-test/one")
	if err != nil {
		t.Fatalf("reading shared-test/one: %v", err)
	}
	if got := secret.Data["value"]; got != "1" {
		t.Errorf("value = %v, expected 1", got)
	}
}

func TestSharedStopPanics(t *testing.T) {
	s := Shared(t)
	defer func() {
		if recover() == nil {
			t.Error("Stop on the shared server did not panic")
		}
	}()
	s.Stop()
}

func TestSharedParallelAppRole(t *testing.T) {
	s := Shared(t)
	for _, role := range []string{"parallel-a", "parallel-b", "parallel-c"} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			roleID, secretID := s.EnableAppRole(t, role, []string{"default"})
			if roleID == "" || secretID == "" {
				t.Errorf("role ID %q, secret ID %q, expected both set", roleID, secretID)
			}
		})
	}
}

func TestLaunchBusyPortIsPortTaken(t *testing.T) {
	running := Start(t)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	busyPort := listener.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	s := &Server{
		binary:    running.binary,
		RootToken: "root-other",
		home:      dir,
		logPath:   filepath.Join(dir, "vault.log"),
	}
	cases := map[string]int{
		"plain listener":   busyPort,
		"other dev server": running.port,
	}
	for name, port := range cases {
		t.Run(name, func(t *testing.T) {
			s.mu.Lock()
			defer s.mu.Unlock()
			err := s.launch(port)
			if err == nil {
				s.stopLocked()
				t.Fatalf("launch on busy port %d succeeded", port)
			}
			if !errors.Is(err, errPortTaken) {
				t.Errorf("launch on busy port %d: error %v, expected errPortTaken", port, err)
			}
		})
	}
}
