package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

var built struct {
	once sync.Once
	path string
	err  error
}

// binary builds secrets-sync once per test run; the tests run it as a user
// would.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "secrets-sync-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "secrets-sync")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the binary in dir with only the given environment, so the
// caller's VAULT_* variables never leak in.
func run(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "TMPDIR=" + dir, "PATH=/usr/bin:/bin"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if exitErr, ok := err.(*exec.ExitError); ok {
		res.code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return res
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func serverEnv(s *vaulttest.Server) []string {
	return []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + s.RootToken}
}

func expectCode(t *testing.T, res result, want int) {
	t.Helper()
	if res.code != want {
		t.Fatalf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, want, res.stdout, res.stderr)
	}
}

func TestSyncOnceBothConfigStyles(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "styles/db", map[string]any{"username": "app", "password": "pw-1"})
	s.WriteKV2(t, "secret", "styles/tls", map[string]any{"tlsCrt": "CRT\n", "tlsKey": "KEY\n"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: token
  token: ${VAULT_TOKEN}
secrets:
  - name: tls
    key: styles/tls
    mountPath: secret
    kvVersion: v2
    refreshInterval: 30m
    template:
      data:
        tls.crt: '{{ .tlsCrt }}'
        tls.key: '{{ .tlsKey }}'
    files:
      - path: out/tls.crt
        mode: "0644"
      - path: out/tls.key
  - name: db
    key: styles/db
    files:
      - path: out/db.env
        template: |
          DB_USER={{ .username }}
          DB_PASSWORD={{ .password }}
      - path: out/nested/db-password
        field: password
        mode: "0400"
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)

	want := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"out/tls.crt":            {"CRT\n", 0o644},
		"out/tls.key":            {"KEY\n", 0o600},
		"out/db.env":             {"DB_USER=app\nDB_PASSWORD=pw-1\n", 0o600},
		"out/nested/db-password": {"pw-1", 0o400},
	}
	for rel, w := range want {
		path := filepath.Join(dir, rel)
		if got := readFile(t, path); got != w.content {
			t.Errorf("%s = %q, want %q", rel, got, w.content)
		}
		if got := fileMode(t, path); got != w.mode {
			t.Errorf("%s mode = %04o, want %04o", rel, got, w.mode)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "out/nested")); got != 0o700 {
		t.Errorf("created folder mode = %04o, want 0700", got)
	}

	// A second pass with nothing changed writes nothing.
	before, err := os.Stat(filepath.Join(dir, "out/db.env"))
	if err != nil {
		t.Fatal(err)
	}
	res = run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--log-format", "json")
	expectCode(t, res, 0)
	after, err := os.Stat(filepath.Join(dir, "out/db.env"))
	if err != nil {
		t.Fatal(err)
	}
	if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino || !before.ModTime().Equal(after.ModTime()) {
		t.Errorf("unchanged file was rewritten")
	}
	summary := summaryLine(t, res.stderr)
	if summary["files_changed"] != float64(0) || summary["files_unchanged"] != float64(4) {
		t.Errorf("summary = %v, want 0 changed and 4 unchanged", summary)
	}
}

// summaryLine returns the JSON log line of the end-of-pass summary.
func summaryLine(t *testing.T, stderr string) map[string]any {
	t.Helper()
	entries := jsonLogLines(stderr, "sync finished")
	if len(entries) == 0 {
		t.Fatalf("no summary line in:\n%s", stderr)
	}
	return entries[0]
}

// jsonLogLines returns the JSON log lines in stderr whose message is msg.
func jsonLogLines(stderr, msg string) []map[string]any {
	var entries []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == msg {
			entries = append(entries, entry)
		}
	}
	return entries
}

func TestSyncOnceExitCodes(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "codes/app", map[string]any{"password": "pw-codes"})
	config := func(address, key, template, dest string) string {
		return fmt.Sprintf(`
secretStore:
  address: %s
secrets:
  - name: app
    key: %s
    files:
      - path: %s
        template: '%s'
`, address, key, dest, template)
	}
	cases := []struct {
		name    string
		config  string
		env     []string
		args    []string
		code    int
		stderr  string
		hint    string // start of the Hint line, unchecked when empty
		closing string // the Error line, unchecked when empty
		// tokenError is a part of the status file's tokenError, which must
		// be empty when this is "-"; unchecked when empty.
		tokenError string
		// retried expects a retry warning with the time left before
		// --timeout.
		retried bool
	}{
		{
			name:   "bad token",
			config: config(s.Addr, "codes/app", "{{ .password }}", "out/p"),
			env:    []string{"VAULT_TOKEN=not-a-token"},
			code:   3,
			stderr: "403",
			hint:   "Hint: check the credentials:",
			// Only the login failure is logged, with no secret name.
			closing:    "Error: login failed for the default credentials under secretStore, so 1 secret could not be read (exit code 3); the error lines above give the reasons",
			tokenError: "403",
		},
		{
			name:       "unreachable address",
			config:     config("http://127.0.0.1:9", "codes/app", "{{ .password }}", "out/p"),
			env:        []string{"VAULT_TOKEN=x"},
			args:       []string{"--timeout", "1s"},
			code:       3,
			stderr:     "connection refused",
			hint:       "Hint: check the server address",
			tokenError: "-",
			retried:    true,
		},
		{
			name:   "missing path",
			config: config(s.Addr, "codes/absent", "{{ .password }}", "out/p"),
			env:    []string{"VAULT_TOKEN=" + s.RootToken},
			code:   4,
			stderr: "no secret at this path",
		},
		{
			name:   "missing field",
			config: config(s.Addr, "codes/app", "{{ .nope }}", "out/p"),
			env:    []string{"VAULT_TOKEN=" + s.RootToken},
			code:   4,
			stderr: `missing field \"nope\" (available fields: \"password\")`,
		},
		{
			name:   "unwritable destination",
			config: config(s.Addr, "codes/app", "{{ .password }}", "blocker/p"),
			env:    []string{"VAULT_TOKEN=" + s.RootToken},
			code:   5,
			stderr: "blocker",
		},
		{
			name:   "broken YAML",
			config: "secretStore: [\n",
			env:    []string{"VAULT_TOKEN=" + s.RootToken},
			code:   2,
			stderr: "config.yaml:",
		},
		{
			name:   "invalid config",
			config: config(s.Addr, "codes/app", "{{ .password }}", "out/p") + "        mode: 600\n",
			env:    []string{"VAULT_TOKEN=" + s.RootToken},
			code:   2,
			stderr: `write "0600"`,
		},
		{
			name:   "unknown flag",
			config: config(s.Addr, "codes/app", "{{ .password }}", "out/p"),
			args:   []string{"--no-such-flag"},
			code:   2,
			stderr: "unknown flag",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			// A regular file where a folder is needed makes the
			// destination unwritable, even for root.
			if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, dir, c.config)
			res := run(t, dir, c.env, append([]string{"sync", "--once", "-c", cfg}, c.args...)...)
			expectCode(t, res, c.code)
			if !strings.Contains(res.stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, res.stderr)
			}
			if c.hint != "" && !strings.Contains(res.stderr, "\n"+c.hint) {
				t.Errorf("stderr lacks a line starting with %q:\n%s", c.hint, res.stderr)
			}
			if c.closing != "" && !strings.Contains(res.stderr, "\n"+c.closing+"\n") {
				t.Errorf("stderr lacks the line %q:\n%s", c.closing, res.stderr)
			}
			if c.retried && !strings.Contains(res.stderr, "login failed, retrying") {
				t.Errorf("stderr lacks the retry warning:\n%s", res.stderr)
			}
			if c.retried && !strings.Contains(res.stderr, `"gives_up_in":"1s"`) {
				t.Errorf("the retry warning lacks gives_up_in:\n%s", res.stderr)
			}
			if c.tokenError != "" {
				st, err := status.ReadFile(filepath.Join(dir, "secrets-sync.status.json"))
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case c.tokenError == "-" && st.TokenError != "":
					t.Errorf("status tokenError = %q, want empty", st.TokenError)
				case c.tokenError != "-" && !strings.Contains(st.TokenError, c.tokenError):
					t.Errorf("status tokenError = %q, want it to contain %q", st.TokenError, c.tokenError)
				}
				if strings.Contains(st.TokenError, "not-a-token") {
					t.Errorf("status tokenError contains the token: %q", st.TokenError)
				}
			}
		})
	}
}

func TestDeniedLoginNamesCredentialSet(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "denied/app", map[string]any{"v": "x"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  token: ${VAULT_TOKEN}
  credentials:
    ci:
      token: ${CI_TOKEN}
secrets:
  - {name: a, key: denied/app, credentials: ci, files: [{path: out/a, field: v}]}
  - {name: b, key: denied/app, credentials: ci, files: [{path: out/b, field: v}]}
  - {name: c, key: denied/other, credentials: ci, files: [{path: out/c, field: v}]}
  - {name: d, key: denied/absent, files: [{path: out/d, field: v}]}
`)
	env := append(serverEnv(s), "CI_TOKEN=denied-token-4417")
	res := run(t, dir, env, "sync", "--once", "-c", cfg)
	expectCode(t, res, 3)
	want := "\nError: login failed for credential set \"ci\", so 3 secrets could not be read; 1 other secret failed (exit code 3); the error lines above give the reasons\n"
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks the line %q:\n%s", want, res.stderr)
	}
	if n := len(jsonLogLines(res.stderr, "login failed")); n != 1 {
		t.Errorf("got %d login failed lines, want 1:\n%s", n, res.stderr)
	}
	wantHint := "\nHint: check the credentials: the settings of secretStore.credentials.ci\n"
	if !strings.Contains(res.stderr, wantHint) {
		t.Errorf("stderr lacks the hint %q:\n%s", wantHint, res.stderr)
	}
	if strings.Contains(res.stderr, "denied-token-4417") {
		t.Errorf("stderr contains the token:\n%s", res.stderr)
	}
}

func TestMissingFieldKeepsOldFiles(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "keep/app", map[string]any{"user": "u", "password": "p"})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"user", "password"} {
		if err := os.WriteFile(filepath.Join(out, name), []byte("old "+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The first file renders; the second names a field the secret lacks,
	// so neither file may change.
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: app
    key: keep/app
    files:
      - {path: out/user, template: "{{ .user }}"}
      - {path: out/password, template: "{{ .passwd }}"}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg)
	expectCode(t, res, 4)
	for _, name := range []string{"user", "password"} {
		if got := readFile(t, filepath.Join(out, name)); got != "old "+name {
			t.Errorf("%s = %q, want the old content", name, got)
		}
	}
}

func TestEmptyFieldHintNamesAllowEmpty(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "emptyhint/app", map[string]any{"token": ""})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "token"), []byte("old token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: emptyhint/app, files: [{path: out/token, field: token}]}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg)
	expectCode(t, res, 4)
	if want := "\nHint: the secret's field is empty"; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
	if want := "set allowEmpty: true on the file"; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
	if strings.Contains(res.stderr, "policy") {
		t.Errorf("the hint blames the policy:\n%s", res.stderr)
	}
	if got := readFile(t, filepath.Join(out, "token")); got != "old token" {
		t.Errorf("token = %q, want the old content", got)
	}
}

func TestSyncOnceWritesOthersWhenOneFails(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "partial/good", map[string]any{"v": "good"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: good, key: partial/good, files: [{path: out/good, field: v}]}
  - {name: absent, key: partial/absent, files: [{path: out/absent, field: v}]}
  - {name: unwritable, key: partial/good, files: [{path: blocker/v, field: v}]}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg)
	// 4 (missing secret) wins over 5 (unwritable destination).
	expectCode(t, res, 4)
	if got := readFile(t, filepath.Join(dir, "out/good")); got != "good" {
		t.Errorf("good secret = %q, want it written", got)
	}
}

func TestTrickyValues(t *testing.T) {
	s := vaulttest.Shared(t)
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	special := `a$b "q" 'q' back\slash #hash $$ ${NOT_EXPANDED}`
	s.WriteKV2(t, "secret", "tricky/values", map[string]any{
		"pem":     pem,
		"special": special,
		"html":    "<a href='x'>&amp;</a>",
		"big":     json.Number("1754110382"),
		"flag":    true,
		"nested":  map[string]any{"b": json.Number("2"), "a": "x<y"},
	})
	s.EnableKV(t, "kv1tricky", 1)
	// KV v2 stores numbers in its own form (3.50 comes back as 3.5), while
	// KV v1 returns them as written, so the decimal lives in v1.
	s.WriteKV1(t, "kv1tricky", "app/data/cfg", map[string]any{"v": "from-v1", "decimal": json.Number("3.50")})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: values
    key: tricky/values
    files:
      - {path: out/pem, field: pem}
      - {path: out/pem-template, template: "{{ .pem }}"}
      - {path: out/special, field: special}
      - {path: out/json, template: "{{ toJSON . }}"}
      - {path: out/big, template: "{{ .big }}"}
      - {path: out/flag, template: "{{ .flag }}"}
      - {path: out/nested, template: "{{ .nested }}"}
      - {path: out/nested-field, field: nested}
  - name: with-data-prefix
    key: data/tricky/values
    files: [{path: out/with-data, field: big}]
  - name: v1-data-segment
    key: app/data/cfg
    mountPath: kv1tricky
    kvVersion: v1
    files:
      - {path: out/v1, field: v}
      - {path: out/decimal, field: decimal}
      - {path: out/decimal-json, template: "{{ toJSON .decimal }}"}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	want := map[string]string{
		"pem":          pem,
		"pem-template": pem,
		"special":      special,
		"json":         `{"big":1754110382,"flag":true,"html":"<a href='x'>&amp;</a>","nested":{"a":"x<y","b":2},"pem":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","special":"a$b \"q\" 'q' back\\slash #hash $$ ${NOT_EXPANDED}"}`,
		"big":          "1754110382",
		"decimal":      "3.50",
		"decimal-json": "3.50",
		"flag":         "true",
		"nested":       `{"a":"x<y","b":2}`,
		"nested-field": `{"a":"x<y","b":2}`,
		"with-data":    "1754110382",
		"v1":           "from-v1",
	}
	for name, w := range want {
		if got := readFile(t, filepath.Join(dir, "out", name)); got != w {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
}

func TestRenderOutputs(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "render/app", map[string]any{"user": "u1", "password": "p1"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: env
    key: render/app
    files:
      - {path: /run/a/app.env, template: "USER={{ .user }}\n"}
  - name: raw
    key: render/app
    files:
      - {path: /run/b/app.env, field: password}
`)
	t.Run("stdout with headers", func(t *testing.T) {
		res := run(t, dir, serverEnv(s), "render", "-c", cfg)
		expectCode(t, res, 0)
		want := "==> /run/a/app.env <==\nUSER=u1\n==> /run/b/app.env <==\np1\n"
		if res.stdout != want {
			t.Errorf("stdout = %q, want %q", res.stdout, want)
		}
	})
	t.Run("single file alone", func(t *testing.T) {
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--file", "/run/b/app.env")
		expectCode(t, res, 0)
		if res.stdout != "p1" {
			t.Errorf("stdout = %q, want the bytes alone", res.stdout)
		}
	})
	t.Run("secret filter", func(t *testing.T) {
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--secret", "env")
		expectCode(t, res, 0)
		if res.stdout != "USER=u1\n" {
			t.Errorf("stdout = %q", res.stdout)
		}
	})
	t.Run("unknown secret", func(t *testing.T) {
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--secret", "nope")
		expectCode(t, res, 2)
	})
	t.Run("ad-hoc template", func(t *testing.T) {
		tmpl := filepath.Join(dir, "app.conf.tmpl")
		if err := os.WriteFile(tmpl, []byte("user={{ .user }} pass={{ .password }}"), 0o600); err != nil {
			t.Fatal(err)
		}
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--secret", "env", "--template", tmpl)
		expectCode(t, res, 0)
		if res.stdout != "user=u1 pass=p1" {
			t.Errorf("stdout = %q", res.stdout)
		}
		res = run(t, dir, serverEnv(s), "render", "-c", cfg, "--template", tmpl)
		expectCode(t, res, 2)
	})
	t.Run("ad-hoc template with a syntax error", func(t *testing.T) {
		tmpl := filepath.Join(dir, "broken.tmpl")
		if err := os.WriteFile(tmpl, []byte("user={{ .user }}\npass={{ .password }\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--secret", "env", "--template", tmpl)
		expectCode(t, res, 2)
		if want := "Error: " + tmpl + ":2: invalid template: "; !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
		if want := "Hint: fix the syntax of the template file " + tmpl; !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
		if strings.Contains(res.stderr, "command line") {
			t.Errorf("stderr blames the command line:\n%s", res.stderr)
		}
	})
	t.Run("ad-hoc template missing", func(t *testing.T) {
		tmpl := filepath.Join(dir, "absent.tmpl")
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--secret", "env", "--template", tmpl)
		expectCode(t, res, 2)
		if want := "Error: cannot read the template file " + tmpl + ": no such file or directory"; !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
		if want := "Hint: check the path given to --template"; !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	})
	t.Run("output dir keeps whole paths", func(t *testing.T) {
		out := filepath.Join(dir, "rendered")
		res := run(t, dir, serverEnv(s), "render", "-c", cfg, "--output-dir", out)
		expectCode(t, res, 0)
		if got := readFile(t, filepath.Join(out, "run/a/app.env")); got != "USER=u1\n" {
			t.Errorf("run/a/app.env = %q", got)
		}
		if got := readFile(t, filepath.Join(out, "run/b/app.env")); got != "p1" {
			t.Errorf("run/b/app.env = %q", got)
		}
		if _, err := os.Stat("/run/a/app.env"); err == nil {
			t.Errorf("render wrote the configured destination")
		}
	})
}

func TestAppRoleTokenRevokedAfterSync(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "approle/app", map[string]any{"v": "approle-value"})
	s.WritePolicy(t, "approle-read", `path "secret/data/approle/*" { capabilities = ["read"] }`)
	roleID, secretID := s.EnableAppRole(t, "sync-test", []string{"approle-read"})
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
  - {name: app, key: approle/app, files: [{path: out/v, field: v}]}
`)
	before := tokenCount(t, s)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID}, "sync", "--once", "-c", cfg, "--log-level", "debug")
	expectCode(t, res, 0)
	if got := readFile(t, filepath.Join(dir, "out/v")); got != "approle-value" {
		t.Errorf("file = %q", got)
	}
	if after := tokenCount(t, s); after != before {
		t.Errorf("tokens before %d, after %d: the login token was not revoked", before, after)
	}
	for _, v := range []string{secretID, roleID, "approle-value"} {
		if strings.Contains(res.stderr, v) {
			t.Errorf("log contains a credential or value %q", v)
		}
	}
}

func TestGivenTokenNotRevoked(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "given/app", map[string]any{"v": "x"})
	token := s.CreateToken(t, []string{"root"}, "1h")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: given/app, files: [{path: out/v, field: v}]}
`)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + token}, "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	client := s.Client(t)
	if _, err := client.Auth().Token().Lookup(token); err != nil {
		t.Errorf("given token no longer valid: %v", err)
	}
}

// tokenCount returns the number of live tokens on the server.
func tokenCount(t *testing.T, s *vaulttest.Server) int {
	t.Helper()
	secret, err := s.Client(t).Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := secret.Data["keys"].([]any)
	return len(keys)
}

func TestDeduplicatedReads(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "dedup/app", map[string]any{"a": "1", "b": "2"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: a, key: dedup/app, files: [{path: out/a, field: a}]}
  - {name: b, key: data/dedup/app, files: [{path: out/b, field: b}]}
  - {name: c, key: dedup/app, version: 1, files: [{path: out/c, field: b}]}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--log-format", "json")
	expectCode(t, res, 0)
	if got := summaryLine(t, res.stderr)["reads"]; got != float64(2) {
		t.Errorf("reads = %v, want 2 (a and b share one read, c pins a version)", got)
	}
}

func TestKVVersionAuto(t *testing.T) {
	s := vaulttest.Shared(t)
	s.EnableKV(t, "autov1", 1)
	s.WriteKV1(t, "autov1", "app", map[string]any{"v": "one"})
	s.WriteKV2(t, "secret", "auto/app", map[string]any{"v": "two"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
defaults: {kvVersion: auto}
secrets:
  - {name: one, key: app, mountPath: autov1, files: [{path: out/one, field: v}]}
  - {name: two, key: auto/app, files: [{path: out/two, field: v}]}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	if got := readFile(t, filepath.Join(dir, "out/one")); got != "one" {
		t.Errorf("v1 = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "out/two")); got != "two" {
		t.Errorf("v2 = %q", got)
	}

	// Vault shows a mount's entry to any token with a capability under
	// it, so a token with none under secret/ is denied the mount table
	// and must fail clearly instead of guessing v1.
	s.WritePolicy(t, "auto-read-only", `path "elsewhere/*" { capabilities = ["read"] }`)
	token := s.CreateToken(t, []string{"auto-read-only"}, "1h")
	cfg = writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: two, key: auto/app, kvVersion: auto, files: [{path: out/denied, field: v}]}
`)
	res = run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + token}, "sync", "--once", "-c", cfg)
	expectCode(t, res, 4)
	if !strings.Contains(res.stderr, "kvVersion auto needs to read the mount table") {
		t.Errorf("stderr lacks the reason:\n%s", res.stderr)
	}
}

func TestForbiddenSecret(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "forbidden/app", map[string]any{"v": "hidden-value"})
	token := s.CreateToken(t, []string{"default"}, "1h")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: forbidden/app, files: [{path: out/v, field: v}]}
`)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + token}, "sync", "--once", "-c", cfg)
	expectCode(t, res, 4)
	if !strings.Contains(res.stderr, "403") {
		t.Errorf("stderr lacks the status:\n%s", res.stderr)
	}
	// Vault responds with 403 both to a policy that denies the path and to a
	// token that is no longer valid, so the message names both causes.
	want := "either the token's policy does not allow read on secret/data/forbidden/app, or the token is no longer valid"
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
}

func TestNoSecretInLogs(t *testing.T) {
	s := vaulttest.Shared(t)
	value := "very-secret-value-7c1e"
	s.WriteKV2(t, "secret", "nolog/app", map[string]any{"v": value})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: ok, key: nolog/app, files: [{path: out/v, field: v}]}
  - {name: bad, key: nolog/app, files: [{path: out/w, template: "{{ .v | base64decode }}"}]}
`)
	res := run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg, "--log-level", "debug")
	expectCode(t, res, 4)
	for _, secret := range []string{value, s.RootToken} {
		if strings.Contains(res.stderr, secret) || strings.Contains(res.stdout, secret) {
			t.Errorf("output contains %q:\n%s", secret, res.stderr)
		}
	}
}

func TestCredentialInWrongPlaceHidden(t *testing.T) {
	s := vaulttest.Shared(t)
	token := "s.misplaced-credential-1234"
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  tokenFile: ${VAULT_TOKEN}
secrets:
  - {name: app, key: "${VAULT_TOKEN}", files: [{path: out/v, field: v}]}
`)
	for _, args := range [][]string{{"sync", "--once"}, {"validate"}, {"render"}} {
		res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + token}, append(args, "-c", cfg)...)
		expectCode(t, res, 2)
		if strings.Contains(res.stderr+res.stdout, token) {
			t.Errorf("%v output shows the token:\n%s%s", args, res.stdout, res.stderr)
		}
		if !strings.Contains(res.stderr+res.stdout, "<redacted>") {
			t.Errorf("%v output lacks the redaction mark:\n%s%s", args, res.stdout, res.stderr)
		}
	}
}

func TestTokenWithLineEnding(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "crlf/app", map[string]any{"v": "ok"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - {name: app, key: crlf/app, files: [{path: out/v, field: v}]}
`)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + s.RootToken + "\r\n"}, "sync", "--once", "-c", cfg, "--timeout", "5s")
	expectCode(t, res, 0)
}
