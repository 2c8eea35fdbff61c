package main_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// compatDir holds config files written for the earlier tool, beside the
// checkout.
const compatDir = "../shared/compat"

func TestValidateEarlierFormatFiles(t *testing.T) {
	if _, err := os.Stat(compatDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("earlier-format examples missing: %v", err)
		}
		t.Skipf("earlier-format examples missing: %v", err)
	}
	// VAULT_ADDR is left unset, so each file's own address is used.
	env := []string{"VAULT_TOKEN=root", "TEAM_A_TOKEN=a", "TEAM_B_ROLE_ID=role", "TEAM_B_SECRET_ID=secret"}
	cases := []struct {
		file string
		code int
		want []string // lines of the output
	}{
		{file: "examples_config.yaml", code: 0},
		{file: "examples_config-credential-sets.yaml", code: 0},
		{file: "examples_config-openbao-namespaces.yaml", code: 0},
		{file: "test_manual_config.yaml", code: 0},
		{file: "testdata_valid-config.yaml", code: 2, want: []string{
			`:29:9: secrets[1].template.data.username: template key "username" matches no file basename (files without a template: db-username, db-password); rename the key to the basename of the file it is for`,
			`:30:9: secrets[1].template.data.password: template key "password" matches no file basename (files without a template: db-username, db-password); rename the key to the basename of the file it is for`,
			`:32:9: secrets[1].files[0]: no template for file /secrets/db-username: add template.data.db-username, or give the file its own template or field`,
			`:34:9: secrets[1].files[1]: no template for file /secrets/db-password: add template.data.db-password, or give the file its own template or field`,
			`: 4 errors, 0 warnings`,
		}},
		{file: "testdata_dev-config.yaml", code: 2, want: []string{
			`:29:9: secrets[1].template.data.username: template key "username" matches no file basename (files without a template: db-username, db-password); rename the key to the basename of the file it is for`,
			`:30:9: secrets[1].template.data.password: template key "password" matches no file basename (files without a template: db-username, db-password); rename the key to the basename of the file it is for`,
		}},
		{file: "testdata_invalid-config.yaml", code: 2, want: []string{
			`:2:12: secretStore.address: no server address; set secretStore.address in the file or VAULT_ADDR in the environment`,
			`:5:10: secrets: no secrets; add at least one entry under secrets`,
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path, err := filepath.Abs(filepath.Join(compatDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			res := run(t, t.TempDir(), env, "validate", "-c", path)
			expectCode(t, res, c.code)
			for _, want := range c.want {
				if !strings.Contains(res.stdout, path+want+"\n") {
					t.Errorf("output lacks %q:\n%s", path+want, res.stdout)
				}
			}
		})
	}
}

// countingListener accepts connections on a loopback port and counts them.
func countingListener(t *testing.T) (address string, connections *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	connections = &atomic.Int64{}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			conn.Close()
		}
	}()
	return "http://" + l.Addr().String(), connections
}

const offlineConfig = `
secretStore:
  address: ${VAULT_ADDR}
secrets:
  - name: app
    key: offline/app
    files:
      - {path: out/app.env, template: "USER={{ .user }}\n"}
      - {path: out/password, field: password}
`

func TestValidateMakesNoConnection(t *testing.T) {
	address, connections := countingListener(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, offlineConfig)
	env := []string{"VAULT_ADDR=" + address, "VAULT_TOKEN=x"}

	res := run(t, dir, env, "validate", "-c", cfg)
	expectCode(t, res, 0)
	if n := connections.Load(); n != 0 {
		t.Errorf("validate opened %d connections to %s, want none", n, address)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("validate created the destination folder")
	}

	// The same listener counts the connections of --online, so the check
	// above would have caught one.
	res = run(t, dir, env, "validate", "-c", cfg, "--online", "--timeout", "5s")
	expectCode(t, res, 3)
	if connections.Load() == 0 {
		t.Errorf("the listener saw no connection from validate --online")
	}
}

func TestValidateClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := "http://" + l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, offlineConfig)
	binary(t) // built before the clock starts

	start := time.Now()
	res := run(t, dir, []string{"VAULT_ADDR=" + address, "VAULT_TOKEN=x"}, "validate", "-c", cfg)
	elapsed := time.Since(start)
	expectCode(t, res, 0)
	if elapsed > 5*time.Second {
		t.Errorf("validate took %s with the server down, want well under 5s", elapsed)
	}
	if want := "config.yaml: 0 errors, 0 warnings\n"; !strings.HasSuffix(res.stdout, want) {
		t.Errorf("stdout = %q, want it to end with %q", res.stdout, want)
	}
}

func TestInitOutputPassesValidate(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `"$0" init | "$0" validate --strict -`, bin)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "VAULT_ADDR=https://vault.example.com:8200", "VAULT_TOKEN=x"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("init | validate: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if got := stdout.String(); got != "<stdin>: 0 errors, 0 warnings\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestValidateOnline(t *testing.T) {
	s := vaulttest.Shared(t)
	value := "online-secret-value-93b1"
	s.WriteKV2(t, "secret", "online/app", map[string]any{"user": "u", "password": value})
	config := func(secrets string) string {
		return "secretStore: {address: \"${VAULT_ADDR}\"}\nsecrets:\n" + secrets
	}
	good := "  - {name: app, key: online/app, files: [{path: out/env, template: \"U={{ .user }} P={{ .password }}\"}, {path: out/p, field: password}]}\n"
	cases := []struct {
		name    string
		secrets string
		env     []string
		code    int
		want    []string // substrings of the output
		stderr  string   // the closing line on stderr, when code is not 0
	}{
		{
			name:    "everything readable",
			secrets: good,
			code:    0,
			want:    []string{"config.yaml: 0 errors, 0 warnings (online at " + s.Addr + ": 1 secret read, 2 files checked)"},
		},
		{
			name:    "missing field",
			secrets: "  - {name: app, key: online/app, files: [{path: out/env, template: \"{{ .user }} {{ .passwd }}\"}, {path: out/p, field: pass}]}\n",
			code:    4,
			want: []string{
				`config.yaml:3:42: secrets[0].files[0]: secret "app" (secret/data/online/app) has no field "passwd", which the template of out/env uses (its fields: password, user); fix the template, or add the field to the secret`,
				`config.yaml:3:98: secrets[0].files[1].field: secret "app" (secret/data/online/app) has no field "pass" (its fields: password, user); change field, or add the field to the secret`,
				"config.yaml: 2 errors, 0 warnings",
			},
			stderr: "Error: 2 failed checks (exit code 4); the lines above name each one",
		},
		{
			name:    "missing path",
			secrets: good + "  - {name: gone, key: online/absent, files: [{path: out/gone, field: x}]}\n",
			code:    4,
			want: []string{
				`config.yaml:4:5: secrets[1].key: secret "gone": read secret/data/online/absent: 404 Not Found: no secret at this path; check key, mountPath and kvVersion`,
				"(online at " + s.Addr + ": 1 secret read, 2 files checked)",
			},
			stderr: "Error: 1 failed check (exit code 4); the lines above name each one",
		},
		{
			name:    "render error",
			secrets: "  - {name: app, key: online/app, files: [{path: out/b, template: \"{{ .user | base64decode }}\"}]}\n",
			code:    4,
			want:    []string{`secret "app" (secret/data/online/app): the template of out/b cannot render: `},
			stderr:  "Error: 1 failed check (exit code 4); the lines above name each one",
		},
		{
			name:    "bad token",
			secrets: good,
			env:     []string{"VAULT_TOKEN=not-a-token"},
			code:    3,
			want:    []string{`config.yaml:1:14: secretStore: cannot log in with credentials under secretStore: look up token: 403 Forbidden`},
			stderr:  "Error: 1 failed check (exit code 3); the lines above name each one",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, config(c.secrets))
			env := append(serverEnv(s), c.env...)
			res := run(t, dir, env, "validate", "-c", cfg, "--online", "--timeout", "10s")
			expectCode(t, res, c.code)
			for _, want := range c.want {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
				}
			}
			if c.stderr != "" && !strings.Contains(res.stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, res.stderr)
			}
			// Each problem above names its own fix, so no generic hint follows.
			if strings.Contains(res.stderr, "Hint:") {
				t.Errorf("stderr has a Hint line after the listed problems:\n%s", res.stderr)
			}
			if strings.Contains(res.stdout+res.stderr, value) || strings.Contains(res.stdout+res.stderr, s.RootToken) {
				t.Errorf("output contains a secret value or the token:\n%s\n%s", res.stdout, res.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Errorf("validate --online wrote under out/")
			}
		})
	}
}

func TestValidateOnlineForbidden(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "online-forbidden/app", map[string]any{"v": "x"})
	token := s.CreateToken(t, []string{"default"}, "1h")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: online-forbidden/app, files: [{path: out/v, field: v}]}
`)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + token}, "validate", "-c", cfg, "--online")
	expectCode(t, res, 4)
	want := `secrets[0].key: secret "app": read secret/data/online-forbidden/app: 403 Forbidden: `
	if !strings.Contains(res.stdout, want) || !strings.Contains(res.stdout, "allow read on this path in the token's policy") {
		t.Errorf("stdout lacks %q and the fix:\n%s", want, res.stdout)
	}
}

func TestValidateOnlineRevokesAppRoleToken(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "online-approle/app", map[string]any{"v": "x"})
	s.WritePolicy(t, "online-approle-read", `path "secret/data/online-approle/*" { capabilities = ["read"] }`)
	roleID, secretID := s.EnableAppRole(t, "online-validate", []string{"online-approle-read"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: approle
  roleId: ${ROLE_ID}
  secretId: ${SECRET_ID}
secrets:
  - {name: app, key: online-approle/app, files: [{path: out/v, field: v}]}
`)
	before := tokenCount(t, s)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID, "SECRET_ID=" + secretID}, "validate", "-c", cfg, "--online")
	expectCode(t, res, 0)
	if after := tokenCount(t, s); after != before {
		t.Errorf("tokens before %d, after %d: the login token was not revoked", before, after)
	}
}

func TestValidateOnlineSkippedOnErrors(t *testing.T) {
	address, connections := countingListener(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, strings.Replace(offlineConfig, "field: password}", "field: password, mode: 600}", 1))
	res := run(t, dir, []string{"VAULT_ADDR=" + address, "VAULT_TOKEN=x"}, "validate", "-c", cfg, "--online")
	expectCode(t, res, 2)
	if !strings.Contains(res.stdout, "(online check skipped until the errors are fixed)") {
		t.Errorf("stdout lacks the skipped note:\n%s", res.stdout)
	}
	if n := connections.Load(); n != 0 {
		t.Errorf("validate --online connected %d times despite errors in the file", n)
	}
}
