package sink

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mountType returns the file system type of the mount that holds path,
// from /proc/self/mounts: the type of the longest mount point that path
// lies under.
func mountType(t *testing.T, path string) string {
	t.Helper()
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer mounts.Close()

	best, kind := "", ""
	scanner := bufio.NewScanner(mounts)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 3 {
			continue
		}
		// The file writes a space in a mount point as \040. Only that escape
		// is decoded, which is enough for the folders these tests check.
		point := strings.ReplaceAll(fields[1], `\040`, " ")
		under := resolved == point || strings.HasPrefix(resolved, strings.TrimSuffix(point, "/")+"/")
		if under && len(point) >= len(best) {
			best, kind = point, fields[2]
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}

	if best == "" {
		t.Fatalf("no mount in /proc/self/mounts contains %s", resolved)
	}
	return kind
}

func TestInMemoryFSAgreesWithMounts(t *testing.T) {
	dirs := []string{t.TempDir()}
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		dirs = append(dirs, "/dev/shm")
	}
	for _, dir := range dirs {
		kind := mountType(t, dir)
		f, err := os.CreateTemp(dir, "memory-check-*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(f.Name()) })
		got := inMemoryFS(f)
		f.Close()
		want := kind == "tmpfs" || kind == "ramfs"
		if got != want {
			t.Errorf("inMemoryFS in %s (a %s mount) = %v, want %v", dir, kind, got, want)
		}
	}
}

// TestDiskWriteInMemoryFlushesNothing checks that files on a memory file
// system are written in full, with no fsync of the file or its folder,
// while the same write elsewhere flushes both.
func TestDiskWriteInMemoryFlushesNothing(t *testing.T) {
	for _, inMemory := range []bool{true, false} {
		dir := t.TempDir()
		d := NewDisk()
		d.ops.inMemory = func(*os.File) bool { return inMemory }
		var flushes []string
		d.ops.syncFile = func(f *os.File) error {
			flushes = append(flushes, "file "+destinationOf(f.Name()))
			return f.Sync()
		}
		d.ops.syncDir = func(dir string) error {
			flushes = append(flushes, "folder")
			return syncFolder(dir)
		}

		mustWrite(t, d, newFile(filepath.Join(dir, "a"), "A"), newFile(filepath.Join(dir, "b"), "B"))

		for name, want := range map[string]string{"a": "A", "b": "B"} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(data) != want {
				t.Errorf("in memory %v: %s holds %q (%v), want %q", inMemory, name, data, err, want)
			}
		}
		var want []string
		if !inMemory {
			want = []string{"file a", "file b", "folder"}
		}
		if !slices.Equal(flushes, want) {
			t.Errorf("in memory %v: flushes %q, want %q", inMemory, flushes, want)
		}
	}
}
