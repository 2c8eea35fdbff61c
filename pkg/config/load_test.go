package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envOf returns a lookup over a fixed environment, so tests never see the
// caller's VAULT_* variables.
func envOf(pairs ...string) LookupFunc {
	env := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		env[pairs[i]] = pairs[i+1]
	}
	return func(name string) (string, bool) { v, ok := env[name]; return v, ok }
}

func parseText(t *testing.T, text string, lookup LookupFunc) (*Config, Problems) {
	t.Helper()
	work := t.TempDir()
	return Parse("test.yaml", []byte(text), Options{Lookup: lookup, WorkDir: work, HomeDir: work})
}

func mustParse(t *testing.T, text string, lookup LookupFunc) *Config {
	t.Helper()
	cfg, problems := parseText(t, text, lookup)
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatalf("unexpected problems:\n%s", errs.Error())
	}
	return cfg
}

const minimal = `
secretStore:
  address: http://127.0.0.1:8200
  token: ${VAULT_TOKEN}
secrets:
  - name: db
    key: app/db
    files:
      - path: /run/secrets/db
        field: password
`

func TestParseMinimalAppliesDefaults(t *testing.T) {
	cfg := mustParse(t, minimal, envOf("VAULT_TOKEN", "t0k"))
	s := cfg.Secrets[0]
	if s.Mount != DefaultMountPath {
		t.Errorf("mount = %q, want %q", s.Mount, DefaultMountPath)
	}
	if s.KVVersion != KVv2 {
		t.Errorf("kvVersion = %q, want v2", s.KVVersion)
	}
	if s.Refresh != DefaultRefreshInterval {
		t.Errorf("refresh = %v, want %v", s.Refresh, DefaultRefreshInterval)
	}
	f := s.Files[0]
	if f.Mode != 0o600 {
		t.Errorf("mode = %o, want 600", f.Mode)
	}
	if f.UID != -1 || f.GID != -1 {
		t.Errorf("owner = %d:%d, want -1:-1", f.UID, f.GID)
	}
	if cfg.Store.Auth.Token != "t0k" {
		t.Errorf("token not expanded from the environment")
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("unexpected warnings: %v", cfg.Warnings)
	}
}

func TestAddressPrecedence(t *testing.T) {
	fileAddr := strings.Replace(minimal, "http://127.0.0.1:8200", "http://127.0.0.1:1111", 1)
	noAddr := strings.Replace(minimal, "  address: http://127.0.0.1:8200\n", "", 1)
	fromEnvRef := strings.Replace(minimal, "http://127.0.0.1:8200", "${VAULT_ADDR}", 1)
	cases := []struct {
		name, text string
		env        []string
		want       string
	}{
		{"file wins over VAULT_ADDR", fileAddr, []string{"VAULT_ADDR", "http://127.0.0.1:2222"}, "http://127.0.0.1:1111"},
		{"VAULT_ADDR fills a missing address", noAddr, []string{"VAULT_ADDR", "http://127.0.0.1:2222"}, "http://127.0.0.1:2222"},
		{"BAO_ADDR fills a missing address", noAddr, []string{"BAO_ADDR", "http://127.0.0.1:3333"}, "http://127.0.0.1:3333"},
		{"VAULT_ADDR before BAO_ADDR", noAddr, []string{"VAULT_ADDR", "http://127.0.0.1:2222", "BAO_ADDR", "http://127.0.0.1:3333"}, "http://127.0.0.1:2222"},
		{"reference in the file", fromEnvRef, []string{"VAULT_ADDR", "http://127.0.0.1:4444"}, "http://127.0.0.1:4444"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustParse(t, c.text, envOf(append(c.env, "VAULT_TOKEN", "x")...))
			if got := cfg.Store.Addresses[0]; got != c.want {
				t.Errorf("address = %q, want %q", got, c.want)
			}
		})
	}
}

func TestTokenSources(t *testing.T) {
	noToken := strings.Replace(minimal, "  token: ${VAULT_TOKEN}\n", "", 1)
	t.Run("VAULT_TOKEN", func(t *testing.T) {
		cfg := mustParse(t, noToken, envOf("VAULT_TOKEN", "env-token"))
		if cfg.Store.Auth.Token != "env-token" {
			t.Errorf("token from VAULT_TOKEN not used")
		}
	})
	t.Run("BAO_TOKEN", func(t *testing.T) {
		cfg := mustParse(t, noToken, envOf("BAO_TOKEN", "bao-token"))
		if cfg.Store.Auth.Token != "bao-token" {
			t.Errorf("token from BAO_TOKEN not used")
		}
	})
	t.Run("home token file", func(t *testing.T) {
		home := t.TempDir()
		if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte("home-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, problems := Parse("test.yaml", []byte(noToken), Options{Lookup: envOf(), WorkDir: home, HomeDir: home})
		if errs := problems.Errors(); len(errs) > 0 {
			t.Fatalf("unexpected problems: %v", errs)
		}
		if cfg.Store.Auth.TokenFile != filepath.Join(home, ".vault-token") {
			t.Errorf("tokenFile = %q, want ~/.vault-token", cfg.Store.Auth.TokenFile)
		}
	})
	t.Run("none", func(t *testing.T) {
		_, problems := parseText(t, noToken, envOf())
		assertProblem(t, problems, "secretStore", "no token")
	})
}

func TestModes(t *testing.T) {
	cases := []struct {
		written string
		want    fs.FileMode
		problem string // substring of the error, or "" for none
		warning string
	}{
		{written: `"0600"`, want: 0o600},
		{written: `"0o640"`, want: 0o640},
		{written: `0644`, want: 0o644},
		{written: `0o400`, want: 0o400},
		{written: `'0755'`, want: 0o755},
		{written: `"600"`, want: 0o600, warning: `write "0600"`},
		{written: `600`, problem: `600 is a YAML number, not an octal mode; write "0600"`},
		{written: `"0999"`, problem: `"0999" is not a valid octal mode`},
		{written: `"01777"`, problem: "above 0777"},
		{written: `"rw-r--r--"`, problem: "not a valid octal mode"},
		{written: `true`, problem: "not a valid octal mode"},
	}
	for _, c := range cases {
		t.Run(c.written, func(t *testing.T) {
			text := strings.Replace(minimal, "        field: password\n", "        field: password\n        mode: "+c.written+"\n", 1)
			cfg, problems := parseText(t, text, envOf("VAULT_TOKEN", "x"))
			if c.problem != "" {
				assertProblem(t, problems, "secrets[0].files[0].mode", c.problem)
				return
			}
			if errs := problems.Errors(); len(errs) > 0 {
				t.Fatalf("unexpected problems: %v", errs)
			}
			if got := cfg.Secrets[0].Files[0].Mode; got != c.want {
				t.Errorf("mode = %04o, want %04o", got, c.want)
			}
			if c.warning != "" {
				found := false
				for _, w := range problems.Warnings() {
					found = found || strings.Contains(w.Message, c.warning)
				}
				if !found {
					t.Errorf("no warning containing %q in %v", c.warning, problems.Warnings())
				}
			}
		})
	}
}

func TestDefaultsSection(t *testing.T) {
	text := `
secretStore:
  address: http://127.0.0.1:8200
  token: ${VAULT_TOKEN}
  kvVersion: v1
  mountPath: legacy
defaults:
  mountPath: kv
  refreshInterval: 1m
  mode: "0640"
secrets:
  - name: a
    key: x
    files: [{path: /tmp/a, field: f}]
  - name: b
    key: y
    mountPath: other
    kvVersion: v2
    refreshInterval: 10s
    files: [{path: /tmp/b, field: f, mode: "0400"}]
`
	cfg := mustParse(t, text, envOf("VAULT_TOKEN", "x"))
	a, b := cfg.Secrets[0], cfg.Secrets[1]
	if a.Mount != "kv" || a.KVVersion != KVv1 || a.Refresh != time.Minute || a.Files[0].Mode != 0o640 {
		t.Errorf("secret a = mount %q kv %q refresh %v mode %o; want kv, v1 (from secretStore), 1m, 0640", a.Mount, a.KVVersion, a.Refresh, a.Files[0].Mode)
	}
	if b.Mount != "other" || b.KVVersion != KVv2 || b.Refresh != 10*time.Second || b.Files[0].Mode != 0o400 {
		t.Errorf("secret b = mount %q kv %q refresh %v mode %o; want its own values", b.Mount, b.KVVersion, b.Refresh, b.Files[0].Mode)
	}
}

func TestTemplateDataKeyedByBasename(t *testing.T) {
	text := `
secretStore: {address: "http://127.0.0.1:8200", token: "${VAULT_TOKEN}"}
secrets:
  - name: tls
    key: common/tls
    template:
      data:
        tls.crt: '{{ .crt }}'
        Tls.Key: '{{ .key }}'
    files:
      - path: out/tls.crt
      - path: out/Tls.Key
`
	cfg := mustParse(t, text, envOf("VAULT_TOKEN", "x"))
	files := cfg.Secrets[0].Files
	if len(files) != 2 || files[0].Tmpl == nil || files[1].Tmpl == nil {
		t.Fatalf("files not matched to template.data keys: %+v", files)
	}
	if !filepath.IsAbs(files[0].Path) || files[0].Dest != "out/tls.crt" {
		t.Errorf("path = %q dest = %q; want an absolute path and the destination as written", files[0].Path, files[0].Dest)
	}
}

func TestSharedTemplateTextKeepsNames(t *testing.T) {
	text := `
secretStore: {address: "http://127.0.0.1:8200", token: "${VAULT_TOKEN}"}
secrets:
  - {name: a, key: app/a, files: [{path: out/a, template: "{{ .password }}"}]}
  - {name: b, key: app/b, files: [{path: out/b, template: "{{ .password }}"}]}
`
	cfg := mustParse(t, text, envOf("VAULT_TOKEN", "x"))
	for i, want := range []string{"a:secrets[0].files[0].template", "b:secrets[1].files[0].template"} {
		tmpl := cfg.Secrets[i].Files[0].Tmpl
		if tmpl == nil {
			t.Fatalf("secret %d has no template", i)
		}
		if tmpl.Name() != want {
			t.Errorf("secret %d template name = %q, want %q", i, tmpl.Name(), want)
		}
	}
}

func TestProblems(t *testing.T) {
	cases := []struct {
		name, text, path, message string
	}{
		{"unset variable", strings.Replace(minimal, "${VAULT_TOKEN}", "${NOT_SET_ANYWHERE}", 1), "secretStore.token", "environment variable NOT_SET_ANYWHERE is not set"},
		{"unknown key with suggestion", strings.Replace(minimal, "key: app/db", "kye: app/db", 1), "secrets[0].kye", `did you mean "key"?`},
		{"key in wrong case", strings.Replace(minimal, "key: app/db", "Key: app/db", 1), "secrets[0].Key", `did you mean "key"?`},
		{"no secrets", "secretStore: {address: 'http://127.0.0.1:8200', token: x}\nsecrets: []\n", "secrets", "no secrets"},
		{"empty address", strings.Replace(minimal, "http://127.0.0.1:8200", `""`, 1), "secretStore.address", "no server address"},
		{"bad duration", strings.Replace(minimal, "key: app/db", "key: app/db\n    refreshInterval: 5", 1), "secrets[0].refreshInterval", `has no unit`},
		{"short duration", strings.Replace(minimal, "key: app/db", "key: app/db\n    refreshInterval: 10ms", 1), "secrets[0].refreshInterval", "below the minimum"},
		{"dotdot path", strings.Replace(minimal, "/run/secrets/db", "/run/../etc/db", 1), "secrets[0].files[0].path", ".. segment"},
		{"folder path", strings.Replace(minimal, "/run/secrets/db", "/run/secrets/", 1), "secrets[0].files[0].path", "is a folder"},
		{"undefined credentials", strings.Replace(minimal, "key: app/db", "key: app/db\n    credentials: team-x", 1), "secrets[0].credentials", `credentials set "team-x" is not defined`},
		{"approle without role", strings.Replace(minimal, "  token: ${VAULT_TOKEN}", "  authMethod: approle", 1), "secretStore", "needs roleId or roleIdFile"},
		{"unsupported method", strings.Replace(minimal, "  token: ${VAULT_TOKEN}", "  authMethod: ldap", 1), "secretStore.authMethod", `authMethod "ldap" is not supported`},
		{"bad kv version", strings.Replace(minimal, "key: app/db", "key: app/db\n    kvVersion: v3", 1), "secrets[0].kvVersion", "not a KV version"},
		{"version on v1", strings.Replace(minimal, "key: app/db", "key: app/db\n    kvVersion: v1\n    version: 2", 1), "secrets[0].version", "KV v1"},
		{"template and field", strings.Replace(minimal, "field: password", "field: password\n        template: x", 1), "secrets[0].files[0].field", "not both"},
		{"bad template", strings.Replace(minimal, "field: password", "template: '{{ .a '", 1), "secrets[0].files[0].template", "invalid template"},
		{"yaml syntax", "secretStore:\n  address: [\n", "", "invalid YAML"},
		{"missing tls file", strings.Replace(minimal, "  token:", "  tlsCACert: /nonexistent/ca.pem\n  token:", 1), "secretStore.tlsCACert", "cannot read /nonexistent/ca.pem"},
		{"token and token file", strings.Replace(minimal, "  token: ${VAULT_TOKEN}", "  token: ${VAULT_TOKEN}\n  tokenFile: /etc/hostname", 1), "secretStore.tokenFile", "not both"},
		{"approle key with token auth", strings.Replace(minimal, "  token: ${VAULT_TOKEN}", "  authMethod: token\n  token: ${VAULT_TOKEN}\n  roleId: r", 1), "secretStore.roleId", "authMethod is token"},
		{"no template for file", strings.Replace(minimal, "        field: password\n", "", 1), "secrets[0].files[0]", "no template for file /run/secrets/db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseText(t, c.text, envOf("VAULT_TOKEN", "x"))
			assertProblem(t, problems, c.path, c.message)
		})
	}
}

func TestDuplicates(t *testing.T) {
	text := `
secretStore: {address: "http://127.0.0.1:8200", token: "${VAULT_TOKEN}"}
secrets:
  - name: a
    key: x
    files: [{path: /tmp/same, field: f}]
  - name: a
    key: y
    files: [{path: /tmp/same, field: g}]
`
	_, problems := parseText(t, text, envOf("VAULT_TOKEN", "x"))
	assertProblem(t, problems, "secrets[1].name", `secret name "a" is already used by secrets[0]`)
	assertProblem(t, problems, "secrets[1].files[0].path", "also written by secrets[0].files[0].path")
}

// The loader frees each secret's part of the tree once it is decoded, so
// these check that aliases into the secrets list still read whole nodes.

func TestAliasedSecretIsDecodedTwice(t *testing.T) {
	text := `
secretStore: {address: "http://127.0.0.1:8200", token: "${VAULT_TOKEN}"}
secrets:
  - &db
    name: db
    key: app/db
    files: [{path: /tmp/db, field: password}]
  - *db
`
	_, problems := parseText(t, text, envOf("VAULT_TOKEN", "x"))
	assertProblem(t, problems, "secrets[1].name", `secret name "db" is already used by secrets[0]`)
	assertProblem(t, problems, "secrets[1].files[0].path", "also written by secrets[0].files[0].path")
	for _, p := range problems.Errors() {
		if p.Path == "secrets[1].name" && (p.Line != 5 || p.Column != 11) {
			t.Errorf("secrets[1].name at %d:%d, want 5:11, the aliased value", p.Line, p.Column)
		}
	}
}

func TestAliasOfSecretsList(t *testing.T) {
	text := `
secrets: &list
  - name: db
    key: app/db
    files: [{path: /tmp/db, field: password}]
secretStore:
  address: *list
  token: x
`
	_, problems := parseText(t, text, envOf())
	assertProblem(t, problems, "secretStore.address[0]", "expected a single value, found a mapping")
}

func TestProblemPosition(t *testing.T) {
	text := "secretStore:\n  address: http://127.0.0.1:8200\n  token: x\nsecrets:\n  - name: a\n    key: x\n    files:\n      - path: /tmp/a\n        field: f\n        mode: 600\n"
	_, problems := parseText(t, text, envOf())
	for _, p := range problems.Errors() {
		if p.Path == "secrets[0].files[0].mode" {
			if p.Line != 10 || p.Column != 15 {
				t.Errorf("position = %d:%d, want 10:15", p.Line, p.Column)
			}
			if got := p.String(); !strings.HasPrefix(got, "test.yaml:10:15: secrets[0].files[0].mode: ") {
				t.Errorf("String() = %q", got)
			}
			return
		}
	}
	t.Fatalf("no mode problem in %v", problems)
}

func TestWarnings(t *testing.T) {
	text := strings.Replace(minimal, "${VAULT_TOKEN}", "s.literal", 1)
	text = strings.Replace(text, "http://127.0.0.1:8200", "http://vault.internal:8200", 1)
	text = strings.Replace(text, "  token:", "  tlsSkipVerify: true\n  token:", 1)
	cfg := mustParse(t, text, envOf())
	want := []string{"a token is written in the file", "unencrypted", "not verified"}
	for _, w := range want {
		found := false
		for _, p := range cfg.Warnings {
			found = found || strings.Contains(p.Message, w)
		}
		if !found {
			t.Errorf("no warning containing %q in %v", w, cfg.Warnings)
		}
	}
	for _, p := range cfg.Warnings {
		if strings.Contains(p.String(), "s.literal") {
			t.Errorf("warning shows the token: %s", p)
		}
	}
}

func assertProblem(t *testing.T, problems Problems, path, message string) {
	t.Helper()
	for _, p := range problems.Errors() {
		if p.Path == path && strings.Contains(p.Message, message) {
			if p.Line == 0 && path != "" {
				t.Errorf("problem %q has no position", p)
			}
			return
		}
	}
	t.Errorf("no problem at %q containing %q; got:\n%s", path, message, problems.Error())
}

func TestOnChange(t *testing.T) {
	base := strings.Replace(minimal, "    key: app/db\n", "    key: app/db\n    maxStale: 10m\n    onChange:\nONCHANGE", 1)
	t.Run("command and signal", func(t *testing.T) {
		text := strings.Replace(base, "ONCHANGE", "      command: [nginx, -s, reload]\n      timeout: 5s\n      signal: SIGHUP\n      pidFile: /run/nginx.pid\n", 1)
		cfg := mustParse(t, text, envOf("VAULT_TOKEN", "x"))
		s := cfg.Secrets[0]
		if s.MaxStale != 10*time.Minute {
			t.Errorf("maxStale = %v", s.MaxStale)
		}
		o := s.OnChange
		if o == nil {
			t.Fatal("onChange not loaded")
		}
		if strings.Join(o.Command, " ") != "nginx -s reload" {
			t.Errorf("command = %q", o.Command)
		}
		if o.Timeout != 5*time.Second {
			t.Errorf("timeout = %v", o.Timeout)
		}
		if o.Signal != syscall.SIGHUP {
			t.Errorf("signal = %v", o.Signal)
		}
		if o.PIDFile != "/run/nginx.pid" {
			t.Errorf("pidFile = %q", o.PIDFile)
		}
	})
	cases := []struct {
		name, onChange, path, message string
	}{
		{"command as text", "      command: nginx -s reload\n", "secrets[0].onChange.command", "must be a list"},
		{"unknown signal", "      signal: BOOM\n      pidFile: /x\n", "secrets[0].onChange.signal", `unknown signal "BOOM"`},
		{"signal without pid file", "      signal: HUP\n", "secrets[0].onChange.pidFile", "signal needs pidFile"},
		{"pid file without signal", "      pidFile: /x\n", "secrets[0].onChange.signal", "no signal"},
		{"empty", "      {}\n", "secrets[0].onChange", "needs a command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseText(t, strings.Replace(base, "ONCHANGE", c.onChange, 1), envOf("VAULT_TOKEN", "x"))
			assertProblem(t, problems, c.path, c.message)
		})
	}
}

func TestSecretsNotAListReportedOnce(t *testing.T) {
	_, problems := parseText(t, "secretStore: {address: http://127.0.0.1:8200, token: t}\nsecrets: 3\n", nil)

	var onSecrets []string
	for _, p := range problems.Errors() {
		if p.Path == "secrets" {
			onSecrets = append(onSecrets, p.Message)
		}
	}
	if len(onSecrets) != 1 || !strings.Contains(onSecrets[0], "expected a list of secrets") {
		t.Errorf("problems at secrets = %q, want only the one that says a list is expected", onSecrets)
	}
}

// Each destination folder is checked once, so these check that a folder
// among the files of an existing folder is still found, and that files in
// a missing folder load.
func TestExistingFolderAsDestination(t *testing.T) {
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "out", "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	text := `
secretStore: {address: "http://127.0.0.1:8200", token: "${VAULT_TOKEN}"}
secrets:
  - name: a
    key: x
    files:
      - {path: out/key, field: f}
      - {path: out/certs, field: g}
      - {path: new/one, field: h}
      - {path: new/two, field: i}
`
	_, problems := Parse("test.yaml", []byte(text), Options{Lookup: envOf("VAULT_TOKEN", "x"), WorkDir: work, HomeDir: work})
	assertProblem(t, problems, "secrets[0].files[1].path", "out/certs is an existing folder")
	if errs := problems.Errors(); len(errs) != 1 {
		t.Errorf("want only the folder reported, got:\n%s", errs.Error())
	}
}
