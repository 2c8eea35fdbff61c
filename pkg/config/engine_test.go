package config

import (
	"reflect"
	"strings"
	"testing"
)

// withSecretKeys returns minimal with lines added to its secret, after its
// key line.
func withSecretKeys(lines string) string {
	return strings.Replace(minimal, "    key: app/db\n", "    key: app/db\n"+lines, 1)
}

func TestEngineDefaultsToKV(t *testing.T) {
	s := mustParse(t, minimal, envOf("VAULT_TOKEN", "t")).Secrets[0]
	if s.Engine != EngineKV || s.Method != MethodRead {
		t.Errorf("engine, method = %q, %q; want kv, read", s.Engine, s.Method)
	}
	if s.WriteData != nil {
		t.Errorf("WriteData = %v, want nil", s.WriteData)
	}
}

func TestGenericWriteWithData(t *testing.T) {
	text := strings.Replace(minimal, "    key: app/db\n", `    engine: Generic
    mountPath: /pki/
    key: issue/web
    method: write
    refreshInterval: 1h
    data:
      common_name: ${CN}
      ttl: 6s
      exclude_cn_from_sans: true
      alt_names: [a.example.com, "${CN}"]
`, 1)
	s := mustParse(t, text, envOf("VAULT_TOKEN", "t", "CN", "web.example.com")).Secrets[0]
	if s.Engine != EngineGeneric || s.Method != MethodWrite {
		t.Errorf("engine, method = %q, %q; want generic, write", s.Engine, s.Method)
	}
	if s.Mount != "pki" || s.Path != "issue/web" {
		t.Errorf("mount, path = %q, %q; want pki, issue/web", s.Mount, s.Path)
	}
	want := map[string]any{
		"common_name":          "web.example.com",
		"ttl":                  "6s",
		"exclude_cn_from_sans": "true",
		"alt_names":            []string{"a.example.com", "web.example.com"},
	}
	if !reflect.DeepEqual(s.WriteData, want) {
		t.Errorf("WriteData = %#v, want %#v", s.WriteData, want)
	}
	if s.KVVersion != "" || s.Version != 0 {
		t.Errorf("kvVersion, version = %q, %d; want none with engine generic", s.KVVersion, s.Version)
	}
}

func TestGenericIgnoresKVDefaults(t *testing.T) {
	text := strings.Replace(minimal, "secrets:\n", "defaults:\n  mountPath: kv\n  kvVersion: v1\nsecrets:\n", 1)
	text = strings.Replace(text, "    key: app/db\n", "    engine: generic\n    key: database/creds/app\n", 1)
	s := mustParse(t, text, envOf("VAULT_TOKEN", "t")).Secrets[0]
	if s.Mount != "" || s.Path != "database/creds/app" {
		t.Errorf("mount, path = %q, %q; want \"\", database/creds/app", s.Mount, s.Path)
	}
	if s.KVVersion != "" {
		t.Errorf("kvVersion = %q, want none", s.KVVersion)
	}
}

func TestGenericWriteWithoutDataSendsEmptyBody(t *testing.T) {
	text := withSecretKeys("    engine: generic\n    method: write\n    refreshInterval: 1h\n")
	s := mustParse(t, text, envOf("VAULT_TOKEN", "t")).Secrets[0]
	if s.WriteData == nil || len(s.WriteData) != 0 {
		t.Errorf("WriteData = %#v, want an empty map", s.WriteData)
	}
}

func TestEngineProblems(t *testing.T) {
	cases := []struct {
		name, lines, path, message string
	}{
		{"unknown engine", "    engine: pki\n", "secrets[0].engine", `engine "pki" is not supported; use kv (the default) or generic`},
		{"unknown method", "    engine: generic\n    method: post\n", "secrets[0].method", `method "post" is not supported`},
		{"write with kv", "    method: write\n", "secrets[0].method", "KV secrets are only read; set engine: generic"},
		{"data with kv", "    data: {a: b}\n", "secrets[0].data", "data is the body of a method write request, which needs engine: generic"},
		{"data with read", "    engine: generic\n    data: {a: b}\n", "secrets[0].data", "data is sent only with method write"},
		{"kvVersion with generic", "    engine: generic\n    kvVersion: v2\n", "secrets[0].kvVersion", "kvVersion applies to engine kv only"},
		{"version with generic", "    engine: generic\n    version: 2\n", "secrets[0].version", "engine generic reads no KV version"},
		{"data not a mapping", "    engine: generic\n    method: write\n    data: [a, b]\n", "secrets[0].data", "expected a mapping of request parameters"},
		{"nested data", "    engine: generic\n    method: write\n    data: {a: {b: c}}\n", "secrets[0].data.a", "found a mapping"},
		{"data without value", "    engine: generic\n    method: write\n    data: {a: }\n", "secrets[0].data.a", "parameter has no value"},
		{"list of mappings", "    engine: generic\n    method: write\n    data: {a: [{b: c}]}\n", "secrets[0].data.a[0]", "expected a single value"},
		{"unset variable", "    engine: generic\n    method: write\n    data: {a: '${NOPE}'}\n", "secrets[0].data.a", "environment variable NOPE is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseText(t, withSecretKeys(c.lines), envOf("VAULT_TOKEN", "t"))
			assertProblem(t, problems, c.path, c.message)
		})
	}
}

func TestWriteWithoutRefreshWarns(t *testing.T) {
	cfg, problems := parseText(t, withSecretKeys("    engine: generic\n    method: write\n"), envOf("VAULT_TOKEN", "t"))
	if len(problems.Errors()) > 0 {
		t.Fatalf("unexpected errors:\n%s", problems.Errors().Error())
	}
	found := false
	for _, w := range cfg.Warnings {
		found = found || (w.Path == "secrets[0].method" && strings.Contains(w.Message, "set refreshInterval"))
	}
	if !found {
		t.Errorf("no warning about the refresh of method write; got:\n%s", problems.Error())
	}

	cfg, _ = parseText(t, withSecretKeys("    engine: generic\n    method: write\n    refreshInterval: 12h\n"), envOf("VAULT_TOKEN", "t"))
	if len(cfg.Warnings) > 0 {
		t.Errorf("warnings with refreshInterval set:\n%s", cfg.Warnings.Error())
	}
}

func TestSchemaEngineKeys(t *testing.T) {
	schema := compileSchema(t)
	accepted := []string{
		"secrets: [{name: a, key: b, engine: Generic, method: WRITE, data: {common_name: x, ttl: 6s, n: 3, on: true, alt: [a, b]}, files: [{path: /x}]}]\n",
		"secrets: [{name: a, key: b, engine: kv, method: read, files: [{path: /x}]}]\n",
		"secrets: [{name: a, key: b, engine: '${ENGINE}', files: [{path: /x}]}]\n",
	}
	for _, text := range accepted {
		if err := schema.Validate(yamlInstance(t, []byte(text))); err != nil {
			t.Errorf("schema rejects:\n%s\n%v", text, err)
		}
	}
	rejected := []string{
		"secrets: [{name: a, key: b, engine: pki, files: [{path: /x}]}]\n",
		"secrets: [{name: a, key: b, method: post, files: [{path: /x}]}]\n",
		"secrets: [{name: a, key: b, data: [a, b], files: [{path: /x}]}]\n",
		"secrets: [{name: a, key: b, data: {a: {b: c}}, files: [{path: /x}]}]\n",
	}
	for _, text := range rejected {
		if err := schema.Validate(yamlInstance(t, []byte(text))); err == nil {
			t.Errorf("schema accepts:\n%s", text)
		}
	}
}
