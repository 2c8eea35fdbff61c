package config

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

func TestFolderModesFollowFileModes(t *testing.T) {
	base := t.TempDir()
	file := func(mode fs.FileMode, parts ...string) File {
		return File{Path: filepath.Join(append([]string{base}, parts...)...), Mode: mode, UID: -1, GID: -1}
	}
	secrets := []Secret{
		{Name: "db", Files: []File{file(0o600, "app", "db"), file(0o640, "app", "db.env")}},
		{Name: "web", Files: []File{file(0o644, "web", "tls.crt")}},
		{Name: "own", Files: []File{file(0o600, "own", "deep", "key")}},
	}

	setNewFolders(secrets)

	folders := secrets[0].Files[0].NewFolders
	want := map[string]fs.FileMode{
		"app":      0o750, // db.env may be read by the group
		"web":      0o755, // tls.crt may be read by anyone
		"own":      0o700,
		"own/deep": 0o700,
		".":        0o755, // above files of every kind
	}
	for dir, mode := range want {
		if got := folders[filepath.Join(base, dir)].Mode; got != mode {
			t.Errorf("mode of %s = %v, want %v", dir, got, mode)
		}
	}
	if got := folders[filepath.Dir(base)].Mode; got != 0o755 {
		t.Errorf("mode of the folder above the config's folders = %v, want 0755", got)
	}
	for dir, attrs := range folders {
		if attrs.UID != -1 || attrs.GID != -1 {
			t.Errorf("%s gets owner %d:%d, want -1:-1 when no file names one", dir, attrs.UID, attrs.GID)
		}
	}
	for _, s := range secrets {
		for _, f := range s.Files {
			if f.NewFolders == nil {
				t.Errorf("%s has no folder modes", f.Path)
			}
		}
	}
}

// ownedFile is a file below a test's base folder, for the owner cases.
type ownedFile struct {
	path     string
	mode     fs.FileMode
	uid, gid int
	linked   bool // the file's secret has layout linked
}

func TestNewFolderOwners(t *testing.T) {
	cases := []struct {
		name  string
		files []ownedFile
		want  map[string]sink.FolderAttrs // keyed by the folder below the base
	}{
		{
			// The owner of out could replace out/app and redirect the
			// writes into it.
			name:  "one owner in nested folders",
			files: []ownedFile{{"out/app/db", 0o600, 65534, -1, false}},
			want: map[string]sink.FolderAttrs{
				"out":     {Mode: 0o711, UID: -1, GID: -1},
				"out/app": {Mode: 0o700, UID: 65534, GID: -1},
			},
		},
		{
			name:  "owner and group",
			files: []ownedFile{{"app/db", 0o640, 1000, 2000, false}, {"app/db.env", 0o640, 1000, 2000, false}},
			want:  map[string]sink.FolderAttrs{"app": {Mode: 0o750, UID: 1000, GID: 2000}},
		},
		{
			name:  "group alone",
			files: []ownedFile{{"app/db", 0o640, -1, 2000, false}},
			want:  map[string]sink.FolderAttrs{"app": {Mode: 0o750, UID: -1, GID: 2000}},
		},
		{
			name:  "different owners",
			files: []ownedFile{{"app/a", 0o600, 1000, -1, false}, {"app/b", 0o600, 1001, -1, false}},
			want:  map[string]sink.FolderAttrs{"app": {Mode: 0o711, UID: -1, GID: -1}},
		},
		{
			name:  "owner beside a file without one",
			files: []ownedFile{{"app/a", 0o600, 1000, -1, false}, {"app/b", 0o600, -1, -1, false}},
			want:  map[string]sink.FolderAttrs{"app": {Mode: 0o711, UID: -1, GID: -1}},
		},
		{
			name:  "one owner, different reading groups",
			files: []ownedFile{{"app/a", 0o640, 1000, 2000, false}, {"app/b", 0o640, 1000, 2001, false}},
			want:  map[string]sink.FolderAttrs{"app": {Mode: 0o751, UID: 1000, GID: -1}},
		},
		{
			name:  "different groups that may not read",
			files: []ownedFile{{"app/a", 0o600, -1, 2000, false}, {"app/b", 0o600, -1, 2001, false}},
			want:  map[string]sink.FolderAttrs{"app": {Mode: 0o700, UID: -1, GID: -1}},
		},
		{
			name: "shared parent of two owners' folders",
			files: []ownedFile{
				{"out/a/key", 0o600, 1000, -1, false},
				{"out/b/key", 0o644, 1001, -1, false},
			},
			want: map[string]sink.FolderAttrs{
				"out":   {Mode: 0o755, UID: -1, GID: -1},
				"out/a": {Mode: 0o700, UID: 1000, GID: -1},
				"out/b": {Mode: 0o755, UID: 1001, GID: -1},
			},
		},
		{
			name: "owners across secrets",
			files: []ownedFile{
				{"out/a/key", 0o600, 1000, -1, false},
				{"out/b/key", 0o600, 1001, -1, false},
				{"out/a/deep/key", 0o600, 1000, -1, false},
			},
			want: map[string]sink.FolderAttrs{
				"out":        {Mode: 0o711, UID: -1, GID: -1},
				"out/a":      {Mode: 0o711, UID: -1, GID: -1},
				"out/a/deep": {Mode: 0o700, UID: 1000, GID: -1},
			},
		},
		{
			// Version folders are written below the linked folder.
			name:  "one owner in layout linked",
			files: []ownedFile{{"web/tls.key", 0o600, 1000, -1, true}, {"web/tls.crt", 0o600, 1000, -1, true}},
			want:  map[string]sink.FolderAttrs{"web": {Mode: 0o711, UID: -1, GID: -1}},
		},
		{
			name: "one group in nested folders and layout linked",
			files: []ownedFile{
				{"out/web/tls.key", 0o640, -1, 2000, true},
				{"out/web/tls.crt", 0o640, -1, 2000, true},
			},
			want: map[string]sink.FolderAttrs{
				"out":     {Mode: 0o750, UID: -1, GID: 2000},
				"out/web": {Mode: 0o750, UID: -1, GID: 2000},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			// Each file is a secret of its own, so the decision spans secrets.
			var secrets []Secret
			for _, f := range c.files {
				path := filepath.Join(base, filepath.FromSlash(f.path))
				layout := LayoutFiles
				if f.linked {
					layout = LayoutLinked
				}
				secrets = append(secrets, Secret{Name: f.path, Layout: layout, Files: []File{{Path: path, Mode: f.mode, UID: f.uid, GID: f.gid}}})
			}

			setNewFolders(secrets)

			folders := secrets[0].Files[0].NewFolders
			for dir, want := range c.want {
				if got := folders[filepath.Join(base, filepath.FromSlash(dir))]; got != want {
					t.Errorf("%s gets %+v, want %+v", dir, got, want)
				}
			}
		})
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
	folders := cfg.Secrets[0].Files[0].NewFolders
	if got := folders[filepath.Join(work, "out", "web")].Mode; got != 0o755 {
		t.Errorf("mode of out/web = %v, want 0755", got)
	}
}

func TestFolderOwnersFromLoadedConfig(t *testing.T) {
	work := t.TempDir()
	text := `secretStore: {address: "http://127.0.0.1:8200", token: t}
secrets:
  - name: db
    key: db
    files:
      - {path: out/app/db-password, template: x, owner: 65534}
      - {path: out/app/db.env, template: x, owner: 65534, group: 65534, mode: "0640"}
  - name: web
    key: web
    layout: linked
    files:
      - {path: out/web/tls.key, template: x, owner: 1000}
      - {path: out/web/tls.crt, template: x, owner: 1001, mode: "0644"}
`
	cfg, problems := Parse("c.yaml", []byte(text), Options{Lookup: envOf(), WorkDir: work, HomeDir: work})
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatalf("unexpected problems:\n%s", errs.Error())
	}
	want := map[string]sink.FolderAttrs{
		"out":     {Mode: 0o755, UID: -1, GID: -1},
		"out/app": {Mode: 0o751, UID: 65534, GID: -1},
		"out/web": {Mode: 0o755, UID: -1, GID: -1},
	}
	for _, s := range cfg.Secrets {
		for _, f := range s.Files {
			for dir, attrs := range want {
				if got := f.NewFolders[filepath.Join(work, dir)]; got != attrs {
					t.Errorf("%s: %s gets %+v, want %+v", f.Dest, dir, got, attrs)
				}
			}
		}
	}
}
