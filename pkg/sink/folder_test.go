//go:build unix

package sink

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newDestFile(dest, content string) File {
	// Path points at a place the Folder sink must not write.
	return File{Path: "/nonexistent/secrets-sync-test/" + dest, Dest: dest, Content: []byte(content), Mode: 0o600, UID: -1, GID: -1}
}

func TestFolderWriteMapsDestUnderRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	files := []File{
		newDestFile("/run/secrets/db", "absolute"),
		newDestFile("a/b", "relative"),
		newDestFile("/etc/app/db", "same base name"),
	}

	results, err := NewFolder(root).Write(context.Background(), "kv/app", files)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}

	expected := []struct{ path, content string }{
		{filepath.Join(root, "run/secrets/db"), "absolute"},
		{filepath.Join(root, "a/b"), "relative"},
		{filepath.Join(root, "etc/app/db"), "same base name"},
	}
	for i, e := range expected {
		if results[i].Path != e.path {
			t.Errorf("results[%d].Path = %q, expected %q", i, results[i].Path, e.path)
		}
		if !results[i].Changed {
			t.Errorf("results[%d].Changed = false for a new file", i)
		}
		if got := readFile(t, e.path); got != e.content {
			t.Errorf("content of %s = %q, expected %q", e.path, got, e.content)
		}
	}
	if info, _ := statFile(t, root); info.Mode().Perm() != 0o700 {
		t.Errorf("mode of new root folder = %v, expected 0700", info.Mode().Perm())
	}
}

func TestFolderWriteRelativeRoot(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)

	if _, err := NewFolder("out").Write(context.Background(), "kv/app", []File{newDestFile("/db", "x")}); err != nil {
		t.Fatalf("Write: %v", err)
	}

	if got := readFile(t, filepath.Join(base, "out", "db")); got != "x" {
		t.Errorf("content = %q, expected %q", got, "x")
	}
}

func TestFolderWriteSkipsUnchanged(t *testing.T) {
	root := t.TempDir()
	sink := NewFolder(root)
	file := newDestFile("/run/secrets/db", "x")
	if _, err := sink.Write(context.Background(), "kv/app", []File{file}); err != nil {
		t.Fatal(err)
	}
	_, before := statFile(t, filepath.Join(root, "run/secrets/db"))

	results, err := sink.Write(context.Background(), "kv/app", []File{file})
	if err != nil {
		t.Fatal(err)
	}

	if results[0].Changed {
		t.Error("Result.Changed = true for an unchanged file")
	}
	if _, after := statFile(t, filepath.Join(root, "run/secrets/db")); after.Ino != before.Ino {
		t.Error("unchanged file was replaced")
	}
}

func TestFolderWriteRejectsEscapes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "out")
	for _, dest := range []string{"../x", "/../x", "a/../../x", "..", "a/..", "", "/", "."} {
		t.Run(dest, func(t *testing.T) {
			files := []File{newDestFile("/valid", "x"), newDestFile(dest, secretContent)}

			results, err := NewFolder(root).Write(context.Background(), "kv/app", files)

			var writeErr *WriteError
			if !errors.As(err, &writeErr) {
				t.Fatalf("error is %T (%v), expected *WriteError", err, err)
			}
			if writeErr.Path != dest {
				t.Errorf("WriteError.Path = %q, expected %q", writeErr.Path, dest)
			}
			assertNoContent(t, err)
			if results != nil {
				t.Errorf("results = %v, expected nil", results)
			}
			if _, statErr := os.Lstat(root); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("root was created although the write was rejected: %v", statErr)
			}
			if _, statErr := os.Lstat(filepath.Join(base, "x")); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("a file was written outside the root: %v", statErr)
			}
		})
	}
}

func TestFolderWriteRejectsSymlinkInRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "out")
	outside := filepath.Join(base, "outside")
	for _, dir := range []string{root, outside} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "run")); err != nil {
		t.Fatal(err)
	}

	_, err := NewFolder(root).Write(context.Background(), "kv/app", []File{newDestFile("/run/secrets/db", "x")})

	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("error = %v, expected a rejected symbolic link", err)
	}
	if _, statErr := os.Lstat(filepath.Join(outside, "secrets")); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("a folder was created outside the root: %v", statErr)
	}
}

func TestFolderWriteRootMayBeSymlink(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "link")
	if err := os.Symlink(real, root); err != nil {
		t.Fatal(err)
	}

	if _, err := NewFolder(root).Write(context.Background(), "kv/app", []File{newDestFile("db", "x")}); err != nil {
		t.Fatalf("Write: %v", err)
	}

	if got := readFile(t, filepath.Join(real, "db")); got != "x" {
		t.Errorf("content = %q, expected %q", got, "x")
	}
}

func TestFolderWriteKeepsDiskChecks(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "db")
	writeExisting(t, path, "old", 0o600)

	_, err := NewFolder(root).Write(context.Background(), "kv/app", []File{newDestFile("db", "")})

	var emptyErr *EmptyError
	if !errors.As(err, &emptyErr) {
		t.Errorf("error is %T (%v), expected *EmptyError", err, err)
	}
	if got := readFile(t, path); got != "old" {
		t.Errorf("content = %q, expected it unchanged", got)
	}
}

func TestFolderWriteHonoursCancelledContext(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := NewFolder(root).Write(ctx, "kv/app", []File{newDestFile("db", "x")})

	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, expected context.Canceled", err)
	}
	if _, statErr := os.Lstat(root); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("root exists after a cancelled write: %v", statErr)
	}
}
