package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reachWarnings loads one file at dir/app/secret with the given file
// settings, after giving the existing folder dir/app the mode folderMode,
// and returns the warnings about reaching the file.
func reachWarnings(t *testing.T, folderMode os.FileMode, fileSettings string) []Problem {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's own folders let only their owner in; dir is opened up
	// so that only dir/app decides.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	app := filepath.Join(dir, "app")
	if err := os.Mkdir(app, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(app, folderMode); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`
secretStore: {address: "https://127.0.0.1:8200", token: "${VAULT_TOKEN}"}
secrets:
  - name: db
    key: app/db
    files:
      - {path: %q, field: password%s}
`, filepath.Join(app, "secret"), fileSettings)
	cfg := mustParse(t, text, envOf("VAULT_TOKEN", "reach-test-token"))
	var warnings []Problem
	for _, p := range cfg.Warnings {
		if strings.Contains(p.Message, "cannot reach") || strings.Contains(p.Message, "lets no one but its owner in") {
			warnings = append(warnings, p)
		}
	}
	return warnings
}

func TestReachWarnings(t *testing.T) {
	me := os.Getuid()
	other := 65534
	if me == other {
		other = 65533
	}
	cases := []struct {
		name       string
		folderMode os.FileMode
		settings   string
		wantPath   string // "" for no warning
	}{
		{"other owner, folder 0700", 0o700, fmt.Sprintf(", owner: %d", other), "secrets[0].files[0].owner"},
		{"other owner, folder 0711", 0o711, fmt.Sprintf(", owner: %d", other), ""},
		{"other owner, folder 0750", 0o750, fmt.Sprintf(", owner: %d", other), ""},
		// As root, the owner is root, which the check leaves out.
		{"folder's own owner, folder 0700", 0o700, fmt.Sprintf(", owner: %d", me), ""},
		{"group readable, folder 0700", 0o700, `, mode: "0640"`, "secrets[0].files[0].mode"},
		{"group readable, folder 0750", 0o750, `, mode: "0640"`, ""},
		{"private file, folder 0700", 0o700, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warnings := reachWarnings(t, c.folderMode, c.settings)
			if c.wantPath == "" {
				if len(warnings) > 0 {
					t.Errorf("unexpected warnings: %v", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("got %d reach warnings, want 1: %v", len(warnings), warnings)
			}
			w := warnings[0]
			if w.Path != c.wantPath {
				t.Errorf("warning path = %q, want %q", w.Path, c.wantPath)
			}
			if w.Line == 0 {
				t.Errorf("warning %q has no position", w)
			}
			if !strings.Contains(w.Message, "chmod go+x") || !strings.Contains(w.Message, "mode 0"+fmt.Sprintf("%o", c.folderMode)) {
				t.Errorf("warning %q lacks the folder's mode or the fix", w.Message)
			}
		})
	}
}
