package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func startFileWatcher(t *testing.T, path string) *FileWatcher {
	t.Helper()
	fw, err := WatchFile(path, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	return fw
}

func expectChange(t *testing.T, fw *FileWatcher, what string) {
	t.Helper()
	select {
	case <-fw.Changes():
	case <-time.After(10 * time.Second):
		t.Fatalf("no change reported after %s", what)
	}
}

// expectNoChange waits well past the debounce and fails on a change.
func expectNoChange(t *testing.T, fw *FileWatcher, what string) {
	t.Helper()
	select {
	case <-fw.Changes():
		t.Fatalf("a change was reported after %s", what)
	case <-time.After(500 * time.Millisecond):
	}
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileWatcherInPlaceWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeText(t, path, "one")
	fw := startFileWatcher(t, path)
	writeText(t, path, "two")
	expectChange(t, fw, "a write in place")
}

func TestFileWatcherRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeText(t, path, "one")
	fw := startFileWatcher(t, path)
	temp := filepath.Join(dir, ".config.yaml.tmp")
	writeText(t, temp, "two")
	if err := os.Rename(temp, path); err != nil {
		t.Fatal(err)
	}
	expectChange(t, fw, "a replacement by rename")
}

func TestFileWatcherSameContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeText(t, path, "one")
	fw := startFileWatcher(t, path)
	writeText(t, path, "one")
	writeText(t, filepath.Join(dir, "unrelated"), "x")
	expectNoChange(t, fw, "a write of the same content and of another file")
}

func TestFileWatcherConfigMapSwap(t *testing.T) {
	// A ConfigMap volume: config.yaml -> ..data/config.yaml, and ..data
	// -> a timestamped folder that an update replaces with a new one.
	dir := t.TempDir()
	first := filepath.Join(dir, "..2026_01_01_00_00_00.1")
	if err := os.Mkdir(first, 0o755); err != nil {
		t.Fatal(err)
	}
	writeText(t, filepath.Join(first, "config.yaml"), "one")
	if err := os.Symlink(filepath.Base(first), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.Symlink("..data/config.yaml", path); err != nil {
		t.Fatal(err)
	}
	fw := startFileWatcher(t, path)

	second := filepath.Join(dir, "..2026_01_01_00_01_00.2")
	if err := os.Mkdir(second, 0o755); err != nil {
		t.Fatal(err)
	}
	writeText(t, filepath.Join(second, "config.yaml"), "two")
	if err := os.Symlink(filepath.Base(second), filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(first); err != nil {
		t.Fatal(err)
	}
	expectChange(t, fw, "a ..data link swap")
}
