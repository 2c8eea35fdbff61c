//go:build unix

package sink

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestIsTempName(t *testing.T) {
	cases := []struct {
		name     string
		expected bool
	}{
		{".db.secrets-sync-0123456789abcdef.tmp", true},
		{"..env.secrets-sync-ffffffffffffffff.tmp", true},
		{".a.b.secrets-sync-0000000000000000.tmp", true},
		{"db", false},
		{".db.tmp", false},
		{"db.secrets-sync-0123456789abcdef.tmp", false},
		{"..secrets-sync-0123456789abcdef.tmp", false},
		{".db.secrets-sync-0123456789ABCDEF.tmp", false},
		{".db.secrets-sync-0123456789abcde.tmp", false},
		{".db.secrets-sync-0123456789abcdefg.tmp", false},
		{".db.secrets-sync-0123456789abcdef.tmpx", false},
		{".db.other-tool-0123456789abcdef.tmp", false},
	}
	for _, tc := range cases {
		if got := isTempName(tc.name); got != tc.expected {
			t.Errorf("isTempName(%q) = %v, expected %v", tc.name, got, tc.expected)
		}
	}
}

func TestCreateTempNameForm(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{"db", ".env", strings.Repeat("x", 255), strings.Repeat("é", 127) + "x"} {
		f, path, err := createTemp(dir, base)
		if err != nil {
			t.Fatalf("createTemp for a %d-byte name: %v", len(base), err)
		}
		f.Close()
		name := filepath.Base(path)
		if !isTempName(name) {
			t.Errorf("temporary file name %q does not match the form that RemoveStaleTemp removes", name)
		}
		if len(name) > 255 {
			t.Errorf("temporary file name has %d bytes, more than 255", len(name))
		}
		info, _ := statFile(t, path)
		if info.Mode().Perm() != 0o600 {
			t.Errorf("temporary file mode = %v, expected 0600", info.Mode().Perm())
		}
	}
}

func TestTruncateNameKeepsCharacters(t *testing.T) {
	name := "ab" + "é" // "é" is 2 bytes, at offsets 2 and 3
	if got := truncateName(name, 3); got != "ab" {
		t.Errorf("truncateName(%q, 3) = %q, expected %q", name, got, "ab")
	}
	if got := truncateName(name, 4); got != name {
		t.Errorf("truncateName(%q, 4) = %q, expected it unchanged", name, got)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	stale := []string{
		filepath.Join(dir, ".db.secrets-sync-0123456789abcdef.tmp"),
		filepath.Join(dir, "..env.secrets-sync-fedcba9876543210.tmp"),
		filepath.Join(other, ".x.secrets-sync-00000000000000aa.tmp"),
	}
	kept := []string{
		filepath.Join(dir, "db"),
		filepath.Join(dir, ".db.tmp"),
		filepath.Join(dir, ".db.secrets-sync-notahexnumber!.tmp"),
	}
	for _, path := range append(slices.Clone(stale), kept...) {
		writeExisting(t, path, "x", 0o600)
	}
	folder := filepath.Join(dir, ".f.secrets-sync-0123456789abcdef.tmp")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	// A link with the temporary name is a leftover of the linked layout;
	// removing it leaves its target alone.
	link := filepath.Join(dir, ".l.secrets-sync-0123456789abcdef.tmp")
	if err := os.Symlink(kept[0], link); err != nil {
		t.Fatal(err)
	}
	stale = append(stale, link)
	kept = append(kept, folder)

	removed, err := RemoveStaleTemp([]string{dir, filepath.Join(dir, "missing"), other})
	if err != nil {
		t.Fatalf("RemoveStaleTemp: %v", err)
	}

	slices.Sort(removed)
	expected := slices.Sorted(slices.Values(stale))
	if !slices.Equal(removed, expected) {
		t.Errorf("removed = %v, expected %v", removed, expected)
	}
	for _, path := range stale {
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("%s still exists", path)
		}
	}
	for _, path := range kept {
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("%s was removed or is unreadable: %v", path, err)
		}
	}
}

func TestRemoveStaleTempFindsCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	file := newFile(filepath.Join(dir, "db"), "x")
	// Staging without the rename is what a crash between the two leaves.
	temp, _, err := NewDisk().stage(&file)
	if err != nil {
		t.Fatal(err)
	}

	removed, err := RemoveStaleTemp([]string{dir})
	if err != nil {
		t.Fatalf("RemoveStaleTemp: %v", err)
	}

	if !slices.Equal(removed, []string{temp}) {
		t.Errorf("removed = %v, expected [%s]", removed, temp)
	}
}

func TestRemoveStaleTempContinuesAfterError(t *testing.T) {
	notFolder := filepath.Join(t.TempDir(), "file")
	writeExisting(t, notFolder, "x", 0o600)
	dir := t.TempDir()
	stale := filepath.Join(dir, ".db.secrets-sync-0123456789abcdef.tmp")
	writeExisting(t, stale, "x", 0o600)

	removed, err := RemoveStaleTemp([]string{notFolder, dir})

	if err == nil || !strings.Contains(err.Error(), notFolder) {
		t.Errorf("error = %v, expected one naming %s", err, notFolder)
	}
	if !slices.Equal(removed, []string{stale}) {
		t.Errorf("removed = %v, expected [%s]", removed, stale)
	}
}

func TestRemoveStaleTempForKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	ours := filepath.Join(dir, ".db-password.secrets-sync-0123456789abcdef.tmp")
	theirs := filepath.Join(dir, ".other.secrets-sync-0123456789abcdef.tmp")
	for _, path := range []string{ours, theirs} {
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveStaleTempFor([]string{filepath.Join(dir, "db-password"), filepath.Join(blocker, "below-a-file")})
	if err != nil {
		t.Fatalf("error: %v (a parent that is a file must be skipped)", err)
	}
	if len(removed) != 1 || removed[0] != ours {
		t.Errorf("removed = %v, want only %s", removed, ours)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("temp file of another destination was removed: %v", err)
	}
}
