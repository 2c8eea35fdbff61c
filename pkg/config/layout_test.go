package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// linkedSecrets returns a config whose secrets each have the given files
// (YAML lines under files:) and layout linked.
func linkedSecrets(files ...string) string {
	var b strings.Builder
	b.WriteString("secretStore:\n  address: http://127.0.0.1:8200\n  token: t\nsecrets:\n")
	for i, f := range files {
		b.WriteString("  - name: s" + string(rune('a'+i)) + "\n    key: app/s\n    layout: linked\n    files:\n" + f)
	}
	return b.String()
}

func TestLayoutDefaultsToFiles(t *testing.T) {
	s := mustParse(t, minimal, envOf("VAULT_TOKEN", "t")).Secrets[0]
	if s.Layout != LayoutFiles {
		t.Errorf("Layout = %q, want %q", s.Layout, LayoutFiles)
	}
}

func TestLayoutLinked(t *testing.T) {
	text := linkedSecrets("      - {path: /run/web/tls.key, field: key}\n      - {path: /run/web/tls.crt, field: crt}\n")
	text = strings.Replace(text, "layout: linked", "layout: ' Linked '", 1)
	s := mustParse(t, text, nil).Secrets[0]
	if s.Layout != LayoutLinked {
		t.Errorf("Layout = %q, want %q", s.Layout, LayoutLinked)
	}
}

func TestLayoutProblems(t *testing.T) {
	cases := []struct {
		name, text, message string
	}{
		{
			"unknown layout",
			strings.Replace(withSecretKeys("    layout: symlinks\n"), "${VAULT_TOKEN}", "t", 1),
			`layout "symlinks" is not supported; use files (the default) or linked`,
		},
		{
			"two folders",
			linkedSecrets("      - {path: /run/web/tls.key, field: key}\n      - {path: /run/other/tls.crt, field: crt}\n"),
			"/run/web/tls.key is in /run/web and /run/other/tls.crt is in /run/other",
		},
		{
			"reserved name",
			linkedSecrets("      - {path: /run/web/..data, field: key}\n"),
			`uses the names starting with ".." in /run/web for itself, so the file /run/web/..data cannot have that name`,
		},
		{
			"shared folder",
			linkedSecrets("      - {path: /run/web/a, field: a}\n", "      - {path: /run/web/b, field: b}\n"),
			"folder /run/web already holds the linked files of secrets[0]",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := parseText(t, c.text, nil)
			path := "secrets[0].layout"
			if c.name == "shared folder" {
				path = "secrets[1].layout"
			}
			assertProblem(t, problems, path, c.message)
		})
	}
}

func TestSchemaLayout(t *testing.T) {
	schema := compileSchema(t)
	for _, layout := range []string{"files", "linked", "Linked", "'${LAYOUT}'"} {
		text := "secrets: [{name: a, key: b, layout: " + layout + ", files: [{path: /x}]}]\n"
		if err := schema.Validate(yamlInstance(t, []byte(text))); err != nil {
			t.Errorf("schema rejects layout %s: %v", layout, err)
		}
	}
	if err := schema.Validate(yamlInstance(t, []byte("secrets: [{name: a, key: b, layout: folder, files: [{path: /x}]}]\n"))); err == nil {
		t.Error("schema accepts layout: folder")
	}
}

func TestLayoutSharedFolderThroughLink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	text := linkedSecrets(
		"      - {path: "+filepath.Join(dir, "real/user")+", field: user}\n",
		"      - {path: "+filepath.Join(dir, "alias/api-key")+", field: key}\n")

	_, problems := parseText(t, text, nil)

	assertProblem(t, problems, "secrets[1].layout", "folder "+filepath.Join(dir, "alias")+" already holds the linked files of secrets[0] (written there as "+filepath.Join(dir, "real")+", the same folder through a symbolic link)")
}

func TestLayoutReportsEveryReservedName(t *testing.T) {
	text := linkedSecrets("      - {path: /run/web/..data, field: a}\n      - {path: /run/web/..old, field: b}\n")

	_, problems := parseText(t, text, nil)

	assertProblem(t, problems, "secrets[0].layout", "the file /run/web/..data cannot have that name")
	assertProblem(t, problems, "secrets[0].layout", "the file /run/web/..old cannot have that name")
}

// TestLayoutReportsReservedNameAndSharedFolder checks that a reserved name
// in one linked secret does not hide that a second one shares its folder.
func TestLayoutReportsReservedNameAndSharedFolder(t *testing.T) {
	text := linkedSecrets("      - {path: /run/web/..tls.key, field: a}\n", "      - {path: /run/web/b, field: b}\n")

	_, problems := parseText(t, text, nil)

	assertProblem(t, problems, "secrets[0].layout", "the file /run/web/..tls.key cannot have that name")
	assertProblem(t, problems, "secrets[1].layout", "folder /run/web already holds the linked files of secrets[0]")
}

func TestRealFolder(t *testing.T) {
	dir := t.TempDir()
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(resolved, filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		filepath.Join(dir, "alias"):           resolved,
		filepath.Join(dir, "alias/new/inner"): filepath.Join(resolved, "new/inner"),
		"/nonexistent-root-folder/a":          "/nonexistent-root-folder/a",
	} {
		if got := realFolder(in); got != want {
			t.Errorf("realFolder(%s) = %s, want %s", in, got, want)
		}
	}
}
