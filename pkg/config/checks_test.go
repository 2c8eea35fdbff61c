package config

import (
	"strings"
	"testing"
)

func TestModeExposureWarning(t *testing.T) {
	cases := []struct {
		name, file string
		warn       bool
	}{
		{"password field", "{path: /run/a, field: password, mode: \"0644\"}", true},
		{"template field", "{path: /run/a, template: '{{ .Private_Key }}', mode: \"0604\"}", true},
		{"basename", "{path: /run/api-token, template: '{{ .v }}', mode: \"0444\"}", true},
		{"group only", "{path: /run/a, field: password, mode: \"0640\"}", false},
		{"public field", "{path: /run/tls.crt, field: certificate, mode: \"0644\"}", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := "secretStore: {address: 'https://v', token: '${T}'}\nsecrets:\n  - {name: a, key: b, files: [" + c.file + "]}\n"
			cfg := mustParse(t, text, envOf("T", "x"))
			found := false
			for _, w := range cfg.Warnings {
				found = found || strings.Contains(w.Message, "lets every user read")
			}
			if found != c.warn {
				t.Errorf("warning = %t, want %t; warnings: %v", found, c.warn, cfg.Warnings)
			}
		})
	}
}

func TestNoSecondProblemForFailedValue(t *testing.T) {
	text := "secretStore:\n  address: ${ADDR}\n  token: ${TOKEN}\nsecrets:\n  - name: ${NAME}\n    Key: a\n    files: [{path: /run/a, feild: x}]\n"
	_, problems := parseText(t, text, envOf())
	for _, p := range problems.Errors() {
		for _, unwanted := range []string{"no server address", "no token", "missing name", "missing key", "no template for file"} {
			if strings.Contains(p.Message, unwanted) {
				t.Errorf("problem repeats an earlier one: %s", p)
			}
		}
	}
	if n := len(problems.Errors()); n != 5 {
		t.Errorf("got %d errors, want 5 (three variables, two unknown keys):\n%s", n, problems.Error())
	}
}

func TestTemplateErrorLine(t *testing.T) {
	text := "secretStore: {address: 'https://v', token: x}\nsecrets:\n  - name: a\n    key: b\n    files:\n      - path: /run/a\n        template: |\n          one {{ .a }}\n          two {{ .b }\n"
	_, problems := parseText(t, text, envOf())
	assertProblem(t, problems, "secrets[0].files[0].template", "line 2 of the template")
	for _, p := range problems.Errors() {
		if p.Path == "secrets[0].files[0].template" && (p.Line != 9 || p.Column != 11) {
			t.Errorf("position = %d:%d, want 9:11, the line inside the block", p.Line, p.Column)
		}
	}
}

func TestDuplicatePathInSecretWithErrors(t *testing.T) {
	text := "secretStore: {address: 'https://v', token: x}\nsecrets:\n  - {name: a, key: b, files: [{path: /run/same, field: f}]}\n  - {name: b, refreshInterval: 1, files: [{path: /run/same, field: g}]}\n"
	_, problems := parseText(t, text, envOf())
	assertProblem(t, problems, "secrets[1].files[0].path", "also written by secrets[0].files[0].path")
	assertProblem(t, problems, "secrets[1].key", "missing key")
}

func TestTLSFileIsFolder(t *testing.T) {
	text := strings.Replace(minimal, "  token:", "  tlsCACert: /\n  tlsCAPath: /\n  token:", 1)
	_, problems := parseText(t, text, envOf("VAULT_TOKEN", "x"))
	assertProblem(t, problems, "secretStore.tlsCACert", "/ is a folder")
	for _, p := range problems.Errors() {
		if p.Path == "secretStore.tlsCAPath" {
			t.Errorf("tlsCAPath may name a folder: %s", p)
		}
	}
}

func TestTLSFileFromEnvironment(t *testing.T) {
	_, problems := parseText(t, minimal, envOf("VAULT_TOKEN", "x", "VAULT_CACERT", "/nonexistent/ca.pem"))
	assertProblem(t, problems, "secretStore.tlsCACert", "cannot read /nonexistent/ca.pem (from VAULT_CACERT)")
}

func TestFileSourceCheckedWhenPathInvalid(t *testing.T) {
	const head = "secretStore: {address: 'https://v', token: x}\nsecrets:\n  - name: a\n    key: b\n"
	cases := []struct {
		name, body string
		path, want string
		errors     int
	}{
		{
			name:   "duplicate path with template and field",
			body:   "    files:\n      - {path: /run/same, field: f}\n      - {path: /run/same, template: '{{ .g }}', field: g}\n",
			path:   "secrets[0].files[1].field",
			want:   "set template or field, not both",
			errors: 2,
		},
		{
			name:   "duplicate path with invalid template",
			body:   "    files:\n      - {path: /run/same, field: f}\n      - {path: /run/same, template: '{{ .g }'}\n",
			path:   "secrets[0].files[1].template",
			want:   "invalid template",
			errors: 2,
		},
		{
			name:   "dot-dot path with empty field",
			body:   "    files:\n      - {path: /run/../x, field: ''}\n",
			path:   "secrets[0].files[0].field",
			want:   "empty field",
			errors: 2,
		},
		{
			name:   "duplicate path without a source",
			body:   "    files:\n      - {path: /run/same, field: f}\n      - {path: /run/same}\n",
			path:   "secrets[0].files[1]",
			want:   "no template for file /run/same",
			errors: 2,
		},
		{
			name:   "missing path with template and field",
			body:   "    files:\n      - {mode: '0600', template: '{{ .g }}', field: g}\n",
			path:   "secrets[0].files[0].field",
			want:   "set template or field, not both",
			errors: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseText(t, head+c.body, envOf())
			assertProblem(t, problems, c.path, c.want)
			if n := len(problems.Errors()); n != c.errors {
				t.Errorf("got %d errors, want %d:\n%s", n, c.errors, problems.Error())
			}
		})
	}
}

func TestDuplicatePathUsesTemplateKey(t *testing.T) {
	text := "secretStore: {address: 'https://v', token: x}\nsecrets:\n" +
		"  - {name: a, key: b, files: [{path: /run/db.env, field: f}]}\n" +
		"  - name: c\n    key: d\n    template: {data: {db.env: '{{ .g }}'}}\n    files: [{path: /run/db.env}]\n"
	_, problems := parseText(t, text, envOf())
	assertProblem(t, problems, "secrets[1].files[0].path", "also written by secrets[0].files[0].path")
	if n := len(problems.Errors()); n != 1 {
		t.Errorf("got %d errors, want only the duplicate path:\n%s", n, problems.Error())
	}
}

func TestEmptyFile(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"no bytes", "", "the file is empty"},
		{"blank lines", "\n  \n\n", "the file is empty"},
		{"comments", "# secrets-sync config\n\n  # to do\n", "the file contains only comments"},
		{"document marker", "---\n", "the file contains no settings"},
		{"null", "~\n", "the file contains no settings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseText(t, c.text, envOf("VAULT_ADDR", "https://v", "VAULT_TOKEN", "x"))
			errs := problems.Errors()
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%s", len(errs), problems.Error())
			}
			p := errs[0]
			if !strings.HasPrefix(p.Message, c.want+"; ") {
				t.Errorf("message = %q, want it to start with %q", p.Message, c.want)
			}
			if !strings.Contains(p.Message, "secrets: list") {
				t.Errorf("message = %q, want it to name the secrets list", p.Message)
			}
			if !strings.Contains(p.Message, "secretStore.address") {
				t.Errorf("message = %q, want it to name the server address", p.Message)
			}
			if p.Line != 1 || p.Column != 1 {
				t.Errorf("position = %d:%d, want 1:1", p.Line, p.Column)
			}
		})
	}
}
