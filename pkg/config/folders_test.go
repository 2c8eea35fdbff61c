package config

import (
	"io/fs"
	"path/filepath"
	"testing"
)

func TestFolderModesFollowFileModes(t *testing.T) {
	base := t.TempDir()
	file := func(mode fs.FileMode, parts ...string) File {
		return File{Path: filepath.Join(append([]string{base}, parts...)...), Mode: mode}
	}
	secrets := []Secret{
		{Name: "db", Files: []File{file(0o600, "app", "db"), file(0o640, "app", "db.env")}},
		{Name: "web", Files: []File{file(0o644, "web", "tls.crt")}},
		{Name: "own", Files: []File{file(0o600, "own", "deep", "key")}},
	}

	setFolderModes(secrets)

	modes := secrets[0].Files[0].FolderModes
	want := map[string]fs.FileMode{
		"app":      0o750, // db.env may be read by the group
		"web":      0o755, // tls.crt may be read by anyone
		"own":      0o700,
		"own/deep": 0o700,
		".":        0o755, // above files of every kind
	}
	for dir, mode := range want {
		if got := modes[filepath.Join(base, dir)]; got != mode {
			t.Errorf("mode of %s = %v, want %v", dir, got, mode)
		}
	}
	if got := modes[filepath.Dir(base)]; got != 0o755 {
		t.Errorf("mode of the folder above the config's folders = %v, want 0755", got)
	}
	for _, s := range secrets {
		for _, f := range s.Files {
			if f.FolderModes == nil {
				t.Errorf("%s has no folder modes", f.Path)
			}
		}
	}
}

func TestFolderModesFromLoadedConfig(t *testing.T) {
	work := t.TempDir()
	text := "secretStore:\n  address: http://127.0.0.1:8200\n  token: t\n" +
		"secrets:\n  - name: web\n    key: web\n    files:\n      - {path: out/web/tls.crt, template: x, mode: \"0644\"}\n"
	cfg, problems := Parse("c.yaml", []byte(text), Options{Lookup: envOf(), WorkDir: work, HomeDir: work})
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatalf("unexpected problems:\n%s", errs.Error())
	}
	modes := cfg.Secrets[0].Files[0].FolderModes
	if got := modes[filepath.Join(work, "out", "web")]; got != 0o755 {
		t.Errorf("mode of out/web = %v, want 0755", got)
	}
}
