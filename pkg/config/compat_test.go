package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compatDir holds config files written for the earlier tool, kept beside
// the checkout.
const compatDir = "../../../shared/compat"

func TestEarlierFormatFiles(t *testing.T) {
	if _, err := os.Stat(compatDir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("earlier-format examples missing: %v", err)
		}
		t.Skipf("earlier-format examples missing: %v", err)
	}
	env := envOf(
		"VAULT_TOKEN", "root",
		"TEAM_A_TOKEN", "a",
		"TEAM_B_ROLE_ID", "role",
		"TEAM_B_SECRET_ID", "secret",
	)
	cases := []struct {
		file    string
		invalid []string // substrings of expected errors; none means valid
	}{
		{file: "examples_config.yaml"},
		{file: "examples_config-credential-sets.yaml"},
		{file: "examples_config-openbao-namespaces.yaml"},
		{file: "test_manual_config.yaml"},
		{file: "testdata_valid-config.yaml", invalid: []string{
			`template key "username" matches no file basename (files without a template: db-username, db-password)`,
			`template key "password" matches no file basename`,
			"no template for file /secrets/db-username",
		}},
		{file: "testdata_dev-config.yaml", invalid: []string{
			`template key "username" matches no file basename`,
			`template key "password" matches no file basename`,
		}},
		{file: "testdata_invalid-config.yaml", invalid: []string{
			"no server address",
			"no secrets",
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(compatDir, c.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			cfg, problems := Parse(path, data, Options{Lookup: env, WorkDir: work, HomeDir: work})
			errs := problems.Errors()
			if len(c.invalid) == 0 {
				if len(errs) > 0 {
					t.Fatalf("want valid, got:\n%s", errs.Error())
				}
				if len(cfg.Secrets) == 0 {
					t.Fatalf("no secrets loaded")
				}
				return
			}
			text := errs.Error()
			for _, want := range c.invalid {
				if !strings.Contains(text, want) {
					t.Errorf("errors lack %q; got:\n%s", want, text)
				}
			}
		})
	}
}

func TestEarlierFormatNamespaces(t *testing.T) {
	path := filepath.Join(compatDir, "examples_config-openbao-namespaces.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	work := t.TempDir()
	cfg, problems := Parse(path, data, Options{Lookup: envOf(), WorkDir: work, HomeDir: work})
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatal(errs.Error())
	}
	want := map[string]string{"team-a-config": "team-a", "team-b-config": "team-b", "root-config": ""}
	for _, s := range cfg.Secrets {
		if s.Namespace != want[s.Name] {
			t.Errorf("secret %s namespace = %q, want %q", s.Name, s.Namespace, want[s.Name])
		}
	}
}
