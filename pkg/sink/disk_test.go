//go:build unix

package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newFile(path, content string) File {
	return File{Path: path, Dest: path, Content: []byte(content), Mode: 0o600, UID: -1, GID: -1}
}

func writeFiles(t *testing.T, d *Disk, files ...File) ([]Result, error) {
	t.Helper()
	return d.Write(context.Background(), "kv/app", files)
}

func mustWrite(t *testing.T, d *Disk, files ...File) []Result {
	t.Helper()
	results, err := writeFiles(t, d, files...)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	assertResultOrder(t, results, files)
	return results
}

// assertResultOrder checks the contract of Sink.Write: one result per file,
// in the order of files, then only results of removed files.
func assertResultOrder(t *testing.T, results []Result, files []File) {
	t.Helper()
	if len(results) < len(files) {
		t.Fatalf("Write returned %d results for %d files", len(results), len(files))
	}
	for i := range files {
		if results[i].Path != files[i].Path || results[i].Removed {
			t.Errorf("result %d = %+v, expected the result of %s", i, results[i], files[i].Path)
		}
	}
	for i, r := range results[len(files):] {
		if !r.Removed || !r.Changed {
			t.Errorf("result %d = %+v after the per-file results, expected a removed file", len(files)+i, r)
		}
	}
}

// setUmask sets the process umask for the rest of the test.
func setUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func statFile(t *testing.T, path string) (fs.FileInfo, *syscall.Stat_t) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return info, info.Sys().(*syscall.Stat_t)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

func writeExisting(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// namesIn lists the names in dir for which keep returns true.
func namesIn(t *testing.T, dir string, keep func(name string) bool) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var names []string
	for _, entry := range entries {
		if keep(entry.Name()) {
			names = append(names, entry.Name())
		}
	}
	return names
}

// tempFilesIn lists the names in dir that have the temporary file form.
func tempFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	return namesIn(t, dir, func(name string) bool {
		return isTempName(name) || strings.Contains(name, tempInfix)
	})
}

func assertNoTempFiles(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		if names := tempFilesIn(t, dir); len(names) > 0 {
			t.Errorf("temporary files left in %s: %v", dir, names)
		}
	}
}

func assertWriteError(t *testing.T, err error, op, path string) *WriteError {
	t.Helper()
	var writeErr *WriteError
	if !errors.As(err, &writeErr) {
		t.Fatalf("error is %T (%v), expected *WriteError", err, err)
	}
	if writeErr.Op != op {
		t.Errorf("WriteError.Op = %q, expected %q (error: %v)", writeErr.Op, op, err)
	}
	if writeErr.Path != path {
		t.Errorf("WriteError.Path = %q, expected %q", writeErr.Path, path)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	assertNoContent(t, err)
	return writeErr
}

func TestDiskWriteCreatesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")

	results := mustWrite(t, NewDisk(), newFile(path, "password=1\n"))

	if results[0].Path != path {
		t.Errorf("Result.Path = %q, expected %q", results[0].Path, path)
	}
	if !results[0].Changed {
		t.Error("Result.Changed = false for a new file")
	}
	if got := readFile(t, path); got != "password=1\n" {
		t.Errorf("content = %q, expected %q", got, "password=1\n")
	}
	info, _ := statFile(t, path)
	if !info.Mode().IsRegular() {
		t.Errorf("destination mode %v is not a regular file", info.Mode())
	}
	assertNoTempFiles(t, dir)
}

func TestDiskWriteModeIgnoresUmask(t *testing.T) {
	modes := []fs.FileMode{0o400, 0o600, 0o640, 0o644, 0o755, 0o777, 0o000}
	for _, mask := range []int{0o077, 0o000} {
		for _, mode := range modes {
			t.Run(fmt.Sprintf("umask %03o mode %04o", mask, uint32(mode)), func(t *testing.T) {
				setUmask(t, mask)
				dir := t.TempDir()
				created := filepath.Join(dir, "created")
				replaced := filepath.Join(dir, "replaced")
				writeExisting(t, replaced, "old", 0o666)

				first := newFile(created, "new")
				first.Mode = mode
				second := newFile(replaced, "new")
				second.Mode = mode
				mustWrite(t, NewDisk(), first, second)

				for _, path := range []string{created, replaced} {
					info, _ := statFile(t, path)
					if got := info.Mode().Perm(); got != mode {
						t.Errorf("mode of %s = %v, expected %v", filepath.Base(path), got, mode)
					}
				}
			})
		}
	}
}

func TestDiskWriteReplacesContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	writeExisting(t, path, "old content", 0o600)
	_, before := statFile(t, path)

	results := mustWrite(t, NewDisk(), newFile(path, "new"))

	if !results[0].Changed {
		t.Error("Result.Changed = false although the content differs")
	}
	if got := readFile(t, path); got != "new" {
		t.Errorf("content = %q, expected %q", got, "new")
	}
	// A rename installs a new inode, while an in-place write keeps the old one.
	if _, after := statFile(t, path); after.Ino == before.Ino {
		t.Error("inode unchanged, so the file was written in place instead of renamed over")
	}
	assertNoTempFiles(t, dir)
}

func TestDiskWriteStagesInDestinationFolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.env")
	d := NewDisk()
	var renames [][2]string
	d.ops.rename = func(oldPath, newPath string) error {
		renames = append(renames, [2]string{oldPath, newPath})
		return os.Rename(oldPath, newPath)
	}

	mustWrite(t, d, newFile(path, "x"))

	if len(renames) != 1 {
		t.Fatalf("%d renames, expected 1", len(renames))
	}
	temp := renames[0][0]
	if renames[0][1] != path {
		t.Errorf("renamed to %s, expected %s", renames[0][1], path)
	}
	if filepath.Dir(temp) != dir {
		t.Errorf("temporary file %s is not in the destination folder %s", temp, dir)
	}
	if name := filepath.Base(temp); !strings.HasPrefix(name, ".db.env"+tempInfix) || !isTempName(name) {
		t.Errorf("temporary file name %q does not have the form .db.env%sHEX%s", name, tempInfix, tempSuffix)
	}
}

func TestDiskWriteStepOrder(t *testing.T) {
	dirA := t.TempDir()
	dirB := t.TempDir()
	pathA := filepath.Join(dirA, "a")
	pathB := filepath.Join(dirB, "b")
	d := onDisk(NewDisk())
	var steps []string
	d.ops.syncFile = func(f *os.File) error {
		steps = append(steps, "sync file "+destinationOf(f.Name()))
		return f.Sync()
	}
	d.ops.rename = func(oldPath, newPath string) error {
		steps = append(steps, "rename "+filepath.Base(newPath))
		return os.Rename(oldPath, newPath)
	}
	d.ops.syncDir = func(dir string) error {
		steps = append(steps, "sync folder "+dir)
		return syncFolder(dir)
	}

	mustWrite(t, d, newFile(pathA, "A"), newFile(pathB, "B"))

	// Both files are staged and flushed before either is renamed, and each
	// folder is flushed after the renames.
	expected := []string{
		"sync file a",
		"sync file b",
		"rename a",
		"rename b",
		"sync folder " + dirA,
		"sync folder " + dirB,
	}
	if !slices.Equal(steps, expected) {
		t.Errorf("steps:\n%s\nexpected:\n%s", strings.Join(steps, "\n"), strings.Join(expected, "\n"))
	}
}

// destinationOf returns the destination base name encoded in a temporary
// file path.
func destinationOf(temp string) string {
	name := strings.TrimPrefix(filepath.Base(temp), ".")
	base, _, _ := strings.Cut(name, tempInfix)
	return base
}

func TestDiskWriteStagingFailureChangesNothing(t *testing.T) {
	injected := errors.New("injected failure")
	cases := []struct {
		name   string
		op     string
		inject func(d *Disk, failing string)
		second func(dir string) File
	}{
		{
			name: "parent is a file",
			op:   "stat",
			second: func(dir string) File {
				blocker := filepath.Join(dir, "blocker")
				if err := os.WriteFile(blocker, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return newFile(filepath.Join(blocker, "b"), secretContent)
			},
		},
		{
			name: "fsync fails",
			op:   "sync",
			inject: func(d *Disk, failing string) {
				onDisk(d)
				d.ops.syncFile = func(f *os.File) error {
					if destinationOf(f.Name()) == failing {
						return injected
					}
					return f.Sync()
				}
			},
		},
		{
			name: "chown fails",
			op:   "chown",
			inject: func(d *Disk, failing string) {
				d.ops.chown = func(f *os.File, uid, gid int) error {
					if destinationOf(f.Name()) == failing {
						return injected
					}
					return f.Chown(uid, gid)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := filepath.Join(dir, "a")
			writeExisting(t, first, "old", 0o600)
			_, before := statFile(t, first)

			secondFile := newFile(filepath.Join(dir, "b"), secretContent)
			if tc.second != nil {
				secondFile = tc.second(dir)
			}
			if tc.op == "chown" {
				secondFile.UID = os.Getuid()
			}
			d := NewDisk()
			if tc.inject != nil {
				tc.inject(d, filepath.Base(secondFile.Path))
			}

			results, err := writeFiles(t, d, newFile(first, "new"), secondFile)

			assertWriteError(t, err, tc.op, secondFile.Path)
			if results != nil {
				t.Errorf("results = %v, expected nil after a staging failure", results)
			}
			if got := readFile(t, first); got != "old" {
				t.Errorf("first destination content = %q, expected it unchanged as %q", got, "old")
			}
			if _, after := statFile(t, first); after.Ino != before.Ino {
				t.Error("first destination was replaced although staging of the second failed")
			}
			if _, err := os.Lstat(filepath.Join(dir, "b")); !errors.Is(err, fs.ErrNotExist) && tc.second == nil {
				t.Errorf("second destination exists after its staging failed: %v", err)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

func TestDiskWriteRenameFailureRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "a")
	second := filepath.Join(dir, "b")
	writeExisting(t, second, "old", 0o600)
	d := NewDisk()
	d.ops.rename = func(oldPath, newPath string) error {
		if newPath == second {
			return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: syscall.EBUSY}
		}
		return os.Rename(oldPath, newPath)
	}

	results, err := writeFiles(t, d, newFile(first, "A"), newFile(second, secretContent))

	writeErr := assertWriteError(t, err, "rename", second)
	if !errors.Is(writeErr, syscall.EBUSY) {
		t.Errorf("error %v does not wrap EBUSY", err)
	}
	if strings.Contains(err.Error(), tempInfix) {
		t.Errorf("error %q names the temporary file instead of the destination", err)
	}
	expected := []Result{{Path: first, Changed: true}, {Path: second, Changed: false}}
	if !slices.Equal(results, expected) {
		t.Errorf("results = %v, expected %v", results, expected)
	}
	if got := readFile(t, first); got != "A" {
		t.Errorf("first destination content = %q, expected %q", got, "A")
	}
	if got := readFile(t, second); got != "old" {
		t.Errorf("second destination content = %q, expected %q", got, "old")
	}
	assertNoTempFiles(t, dir)
}

func TestDiskWriteSkipsUnchanged(t *testing.T) {
	cases := []struct {
		name     string
		uid, gid int
	}{
		{name: "owner not requested", uid: -1, gid: -1},
		{name: "owner requested", uid: 1234, gid: 1234},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.uid >= 0 && os.Geteuid() != 0 {
				t.Skip("setting an owner needs root")
			}
			path := filepath.Join(t.TempDir(), "db")
			file := newFile(path, "same")
			file.Mode = 0o640
			file.UID, file.GID = tc.uid, tc.gid
			d := NewDisk()
			mustWrite(t, d, file)
			// An old mtime makes any rewrite visible even on a coarse clock.
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			infoBefore, before := statFile(t, path)
			renamed := false
			d.ops.rename = func(oldPath, newPath string) error {
				renamed = true
				return os.Rename(oldPath, newPath)
			}

			results := mustWrite(t, d, file)

			if results[0].Changed {
				t.Error("Result.Changed = true for an unchanged file")
			}
			if renamed {
				t.Error("an unchanged file was renamed over")
			}
			infoAfter, after := statFile(t, path)
			if after.Ino != before.Ino {
				t.Errorf("inode changed from %d to %d", before.Ino, after.Ino)
			}
			if !infoAfter.ModTime().Equal(infoBefore.ModTime()) {
				t.Errorf("mtime changed from %v to %v", infoBefore.ModTime(), infoAfter.ModTime())
			}
			assertNoTempFiles(t, filepath.Dir(path))
		})
	}
}

func TestDiskWriteRewritesOnDifference(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *File)
		root   bool
	}{
		{name: "content of same size", change: func(f *File) { f.Content = []byte("b") }},
		{name: "longer content", change: func(f *File) { f.Content = []byte("aa") }},
		{name: "mode", change: func(f *File) { f.Mode = 0o644 }},
		{name: "uid", change: func(f *File) { f.UID = 1234 }, root: true},
		{name: "gid", change: func(f *File) { f.GID = 1234 }, root: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("setting an owner needs root")
			}
			path := filepath.Join(t.TempDir(), "db")
			file := newFile(path, "a")
			d := NewDisk()
			mustWrite(t, d, file)
			tc.change(&file)

			results := mustWrite(t, d, file)

			if !results[0].Changed {
				t.Error("Result.Changed = false although the file differs")
			}
			info, stat := statFile(t, path)
			if got := readFile(t, path); got != string(file.Content) {
				t.Errorf("content = %q, expected %q", got, file.Content)
			}
			if info.Mode().Perm() != file.Mode {
				t.Errorf("mode = %v, expected %v", info.Mode().Perm(), file.Mode)
			}
			if file.UID >= 0 && int(stat.Uid) != file.UID {
				t.Errorf("uid = %d, expected %d", stat.Uid, file.UID)
			}
			if file.GID >= 0 && int(stat.Gid) != file.GID {
				t.Errorf("gid = %d, expected %d", stat.Gid, file.GID)
			}
		})
	}
}

func TestDiskWriteIgnoresOwnerWhenUnset(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving the file another owner needs root")
	}
	path := filepath.Join(t.TempDir(), "db")
	writeExisting(t, path, "same", 0o600)
	if err := os.Chown(path, 1234, 1234); err != nil {
		t.Fatal(err)
	}

	results := mustWrite(t, NewDisk(), newFile(path, "same"))

	if results[0].Changed {
		t.Error("Result.Changed = true although no owner was requested and bytes and mode match")
	}
	if _, stat := statFile(t, path); stat.Uid != 1234 || stat.Gid != 1234 {
		t.Errorf("owner = %d:%d, expected it unchanged as 1234:1234", stat.Uid, stat.Gid)
	}
}

func TestDiskWriteEmptyContent(t *testing.T) {
	t.Run("replaces non-empty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		writeExisting(t, path, secretContent, 0o600)

		results, err := writeFiles(t, NewDisk(), newFile(path, ""))

		var emptyErr *EmptyError
		if !errors.As(err, &emptyErr) {
			t.Fatalf("error is %T (%v), expected *EmptyError", err, err)
		}
		if emptyErr.Path != path {
			t.Errorf("EmptyError.Path = %q, expected %q", emptyErr.Path, path)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
		if !strings.Contains(err.Error(), "allowEmpty: true") {
			t.Errorf("error %q does not mention allowEmpty: true", err)
		}
		assertNoContent(t, err)
		if results != nil {
			t.Errorf("results = %v, expected nil", results)
		}
		if got := readFile(t, path); got != secretContent {
			t.Errorf("content = %q, expected it unchanged", got)
		}
	})
	t.Run("allowed to replace non-empty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		writeExisting(t, path, "old", 0o600)
		file := newFile(path, "")
		file.AllowEmpty = true

		results := mustWrite(t, NewDisk(), file)

		if !results[0].Changed {
			t.Error("Result.Changed = false")
		}
		if got := readFile(t, path); got != "" {
			t.Errorf("content = %q, expected empty", got)
		}
	})
	t.Run("creates new file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")

		results := mustWrite(t, NewDisk(), newFile(path, ""))

		if !results[0].Changed {
			t.Error("Result.Changed = false for a new file")
		}
		if info, _ := statFile(t, path); info.Size() != 0 {
			t.Errorf("size = %d, expected 0", info.Size())
		}
	})
	t.Run("replaces empty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		writeExisting(t, path, "", 0o600)
		_, before := statFile(t, path)

		results := mustWrite(t, NewDisk(), newFile(path, ""))

		if results[0].Changed {
			t.Error("Result.Changed = true for an empty file that stays empty")
		}
		if _, after := statFile(t, path); after.Ino != before.Ino {
			t.Error("empty file was replaced")
		}
	})
}

func TestDiskWriteCreatesParentFolders(t *testing.T) {
	for _, mask := range []int{0o077, 0o022, 0o000} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			setUmask(t, mask)
			base := t.TempDir()
			existing := filepath.Join(base, "existing")
			if err := os.Mkdir(existing, 0o751); err != nil {
				t.Fatal(err)
			}
			// New subfolders inherit the setgid bit, and keep it.
			if err := os.Chmod(existing, 0o751|fs.ModeSetgid); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(existing, "a", "b", "c", "db")

			mustWrite(t, NewDisk(), newFile(path, "x"))

			for _, dir := range []string{"a", "a/b", "a/b/c"} {
				info, _ := statFile(t, filepath.Join(existing, dir))
				if !info.IsDir() {
					t.Errorf("%s is not a folder", dir)
				}
				if got := info.Mode() & modeBits; got != 0o700|fs.ModeSetgid {
					t.Errorf("mode of new folder %s = %v, expected 02700", dir, got)
				}
			}
			if info, _ := statFile(t, existing); info.Mode()&modeBits != 0o751|fs.ModeSetgid {
				t.Errorf("mode of existing folder = %v, expected it unchanged as 02751", info.Mode()&modeBits)
			}
			if got := readFile(t, path); got != "x" {
				t.Errorf("content = %q, expected %q", got, "x")
			}
		})
	}
}

// TestDiskWriteCreatesFoldersWithGivenModes checks that new folders get the
// modes of File.NewFolders whatever the umask, without the setgid bit
// under a parent that lacks it, and 0700 where the map names none.
func TestDiskWriteCreatesFoldersWithGivenModes(t *testing.T) {
	setUmask(t, 0o077)
	base := t.TempDir()
	path := filepath.Join(base, "shared", "web", "key")
	file := newFile(path, "x")
	file.Mode = 0o640
	file.NewFolders = map[string]FolderAttrs{
		filepath.Join(base, "shared"):        {Mode: 0o755, UID: -1, GID: -1},
		filepath.Join(base, "shared", "web"): {Mode: 0o750, UID: -1, GID: -1},
	}

	mustWrite(t, NewDisk(), file)
	other := filepath.Join(base, "other", "key")
	mustWrite(t, NewDisk(), File{Path: other, Dest: other, Content: []byte("y"), Mode: 0o600, UID: -1, GID: -1, NewFolders: file.NewFolders})

	for dir, want := range map[string]fs.FileMode{"shared": 0o755, "shared/web": 0o750, "other": 0o700} {
		info, _ := statFile(t, filepath.Join(base, dir))
		if got := info.Mode() & modeBits; got != want {
			t.Errorf("mode of new folder %s = %v, expected %v", dir, got, want)
		}
	}
}

// requireRoot skips a test that sets owners when not run as root, and
// fails it when CI is true, because CI runs the tests as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test sets owners, which needs root, and CI runs as root; run the tests as root")
	}
	t.Skip("setting an owner needs root")
}

// TestDiskWriteGivesNewFoldersOwner checks that new folders get the owner
// and group of File.NewFolders, and that an existing folder keeps its own.
func TestDiskWriteGivesNewFoldersOwner(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	path := filepath.Join(base, "app", "deep", "key")
	file := newFile(path, "x")
	file.UID, file.GID = 1234, 4321
	file.NewFolders = map[string]FolderAttrs{
		base:                               {Mode: 0o700, UID: 1234, GID: 4321},
		filepath.Join(base, "app"):         {Mode: 0o711, UID: -1, GID: 4321},
		filepath.Join(base, "app", "deep"): {Mode: 0o700, UID: 1234, GID: -1},
	}

	mustWrite(t, NewDisk(), file)

	cases := []struct {
		dir      string
		uid, gid uint32
		mode     fs.FileMode
	}{
		{dir: "app", uid: 0, gid: 4321, mode: 0o711},
		{dir: "app/deep", uid: 1234, gid: uint32(os.Getgid()), mode: 0o700},
	}
	for _, c := range cases {
		info, stat := statFile(t, filepath.Join(base, c.dir))
		if stat.Uid != c.uid {
			t.Errorf("uid of new folder %s = %d, expected %d", c.dir, stat.Uid, c.uid)
		}
		if stat.Gid != c.gid {
			t.Errorf("gid of new folder %s = %d, expected %d", c.dir, stat.Gid, c.gid)
		}
		if got := info.Mode() & modeBits; got != c.mode {
			t.Errorf("mode of new folder %s = %v, expected %v", c.dir, got, c.mode)
		}
	}
	if _, stat := statFile(t, base); stat.Uid != uint32(os.Getuid()) || stat.Gid != uint32(os.Getgid()) {
		t.Errorf("existing folder is owned by %d:%d, expected it unchanged", stat.Uid, stat.Gid)
	}
}

// TestDiskWriteNewFolderKeepsSetgidWithGroup checks that a new folder under
// a set-group-ID parent keeps the bit when it is given another group, so
// the files later created in it get that group.
func TestDiskWriteNewFolderKeepsSetgidWithGroup(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	if err := os.Chmod(base, 0o750|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "web")
	file := newFile(filepath.Join(dir, "tls.key"), "x")
	file.Mode = 0o640
	file.GID = 4321
	file.NewFolders = map[string]FolderAttrs{dir: {Mode: 0o750, UID: -1, GID: 4321}}

	mustWrite(t, NewDisk(), file)

	info, stat := statFile(t, dir)
	if stat.Gid != 4321 {
		t.Errorf("gid of new folder = %d, expected 4321", stat.Gid)
	}
	if got := info.Mode() & modeBits; got != 0o750|fs.ModeSetgid {
		t.Errorf("mode of new folder = %v, expected 02750", got)
	}
}

// TestDiskWriteNewFolderChownPermission checks that a folder chown that
// lacks the privilege leaves the folder as it is, and that the write then
// fails with the file's own chown error, as it did before folders got an
// owner.
func TestDiskWriteNewFolderChownPermission(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "app")
	path := filepath.Join(dir, "db")
	d := NewDisk()
	var chowned []string
	d.ops.chown = func(f *os.File, uid, gid int) error {
		chowned = append(chowned, f.Name())
		return &fs.PathError{Op: "fchown", Path: f.Name(), Err: syscall.EPERM}
	}
	file := newFile(path, secretContent)
	file.UID, file.GID = 1234, 1234
	file.NewFolders = map[string]FolderAttrs{dir: {Mode: 0o700, UID: 1234, GID: 1234}}

	_, err := writeFiles(t, d, file)

	assertChownPermissionError(t, err, path)
	if len(chowned) == 0 || chowned[0] != dir {
		t.Errorf("chown calls on %v, expected the new folder %s first", chowned, dir)
	}
	info, stat := statFile(t, dir)
	if stat.Uid != uint32(os.Getuid()) {
		t.Errorf("uid of new folder = %d, expected the process's %d", stat.Uid, os.Getuid())
	}
	if got := info.Mode() & modeBits; got != 0o700 {
		t.Errorf("mode of new folder = %v, expected 0700", got)
	}
}

// TestDiskWriteNewFolderChownOtherError checks that a folder chown failing
// for another reason than privileges fails the write and names the folder.
func TestDiskWriteNewFolderChownOtherError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	path := filepath.Join(dir, "db")
	d := NewDisk()
	d.ops.chown = func(f *os.File, uid, gid int) error {
		return &fs.PathError{Op: "fchown", Path: f.Name(), Err: syscall.EINVAL}
	}
	file := newFile(path, secretContent)
	file.NewFolders = map[string]FolderAttrs{dir: {Mode: 0o700, UID: 1234, GID: -1}}

	_, err := writeFiles(t, d, file)

	assertWriteError(t, err, "write", path)
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("error %v does not wrap EINVAL", err)
	}
	for _, part := range []string{"new folder " + dir, "uid 1234"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
	assertNoContent(t, err)
}

func TestDiskWriteRecreatesRemovedFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	d := NewDisk()
	mustWrite(t, d, newFile(filepath.Join(dir, "first"), "x"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, "second")
	mustWrite(t, d, newFile(path, "y"))

	if got := readFile(t, path); got != "y" {
		t.Errorf("content = %q, expected %q", got, "y")
	}
	if info, _ := statFile(t, dir); info.Mode()&modeBits != 0o700 {
		t.Errorf("mode of the folder created again = %v, expected 0700", info.Mode()&modeBits)
	}
}

func TestDiskWriteParentIsDanglingLink(t *testing.T) {
	base := t.TempDir()
	parent := filepath.Join(base, "app")
	if err := os.Symlink(filepath.Join(base, "missing"), parent); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "db")

	_, err := writeFiles(t, NewDisk(), newFile(path, secretContent))

	assertWriteError(t, err, "write", path)
	if want := "parent " + parent + " exists but is not a folder"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	assertNoContent(t, err)
	if _, err := os.Lstat(filepath.Join(base, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link target was created (Lstat: %v)", err)
	}
}

func TestDiskWriteDestinationIsFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}

	_, err := writeFiles(t, NewDisk(), newFile(path, secretContent))

	assertWriteError(t, err, "write", path)
	if !errors.Is(err, errIsFolder) {
		t.Errorf("error %v does not wrap errIsFolder", err)
	}
	if !strings.Contains(err.Error(), "folder") {
		t.Errorf("error %q does not say the destination is a folder", err)
	}
	if info, _ := statFile(t, path); !info.IsDir() {
		t.Error("the folder was replaced")
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestDiskWriteReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	writeExisting(t, target, "target content", 0o600)
	link := filepath.Join(dir, "db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}

	results := mustWrite(t, NewDisk(), newFile(link, "target content"))

	if !results[0].Changed {
		t.Error("Result.Changed = false although the destination was a symbolic link")
	}
	if info, _ := statFile(t, link); !info.Mode().IsRegular() {
		t.Errorf("destination mode %v, expected a regular file", info.Mode())
	}
	if got := readFile(t, target); got != "target content" {
		t.Errorf("link target content = %q, expected it unchanged", got)
	}
}

func TestDiskWriteSetsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting an owner needs root")
	}
	cases := []struct {
		name                   string
		uid, gid               int
		expectedUID, expectGID uint32
	}{
		{name: "uid and gid", uid: 1234, gid: 1234, expectedUID: 1234, expectGID: 1234},
		{name: "uid only", uid: 1234, gid: -1, expectedUID: 1234, expectGID: uint32(os.Getgid())},
		{name: "gid only", uid: -1, gid: 4321, expectedUID: uint32(os.Getuid()), expectGID: 4321},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			file := newFile(path, "x")
			file.Mode = 0o640
			file.UID, file.GID = tc.uid, tc.gid

			mustWrite(t, NewDisk(), file)

			info, stat := statFile(t, path)
			if stat.Uid != tc.expectedUID {
				t.Errorf("uid = %d, expected %d", stat.Uid, tc.expectedUID)
			}
			if stat.Gid != tc.expectGID {
				t.Errorf("gid = %d, expected %d", stat.Gid, tc.expectGID)
			}
			if info.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v after chown, expected 0640", info.Mode().Perm())
			}
		})
	}
}

func TestDiskWriteChownPermissionError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	d := NewDisk()
	d.ops.chown = func(f *os.File, uid, gid int) error {
		return &fs.PathError{Op: "fchown", Path: f.Name(), Err: syscall.EPERM}
	}
	file := newFile(path, secretContent)
	file.UID, file.GID = 1234, 1234

	_, err := writeFiles(t, d, file)

	assertChownPermissionError(t, err, path)
	if _, statErr := os.Lstat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("destination exists after chown failed: %v", statErr)
	}
	assertNoTempFiles(t, dir)
}

func assertChownPermissionError(t *testing.T, err error, path string) {
	t.Helper()
	assertWriteError(t, err, "chown", path)
	var ownerErr *OwnerError
	if !errors.As(err, &ownerErr) {
		t.Errorf("error %v does not wrap *OwnerError", err)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("error %v does not match fs.ErrPermission", err)
	}
	message := err.Error()
	for _, part := range []string{"uid 1234", "gid 1234", "root or CAP_CHOWN", "group", "0640"} {
		if !strings.Contains(message, part) {
			t.Errorf("error %q does not contain %q", message, part)
		}
	}
	if strings.Contains(message, tempInfix) {
		t.Errorf("error %q names the temporary file instead of the destination", message)
	}
}

func TestDiskWriteChownOtherError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	d := NewDisk()
	d.ops.chown = func(f *os.File, uid, gid int) error {
		return &fs.PathError{Op: "fchown", Path: f.Name(), Err: syscall.EINVAL}
	}
	file := newFile(path, secretContent)
	file.UID = 1234

	_, err := writeFiles(t, d, file)

	assertWriteError(t, err, "chown", path)
	var ownerErr *OwnerError
	if errors.As(err, &ownerErr) {
		t.Errorf("error %q blames missing privileges for EINVAL", err)
	}
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("error %v does not wrap EINVAL", err)
	}
	if !strings.Contains(err.Error(), "uid 1234") {
		t.Errorf("error %q does not name uid 1234", err)
	}
}

func TestDiskWriteHonoursCancelledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	results, err := NewDisk().Write(ctx, "kv/app", []File{newFile(path, "x")})

	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, expected context.Canceled", err)
	}
	if results != nil {
		t.Errorf("results = %v, expected nil", results)
	}
	if _, statErr := os.Lstat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("destination exists after a cancelled write: %v", statErr)
	}
}

func TestDiskWriteRejectsInvalidFiles(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid")
	cases := []struct {
		name  string
		file  func() File
		extra []File
	}{
		{name: "relative path", file: func() File { return newFile("db", "x") }},
		{name: "unclean path", file: func() File { return newFile(dir+"/x/../db", "x") }},
		{name: "setuid mode", file: func() File {
			f := newFile(filepath.Join(dir, "db"), "x")
			f.Mode = 0o4755
			return f
		}},
		{name: "uid below -1", file: func() File {
			f := newFile(filepath.Join(dir, "db"), "x")
			f.UID = -2
			return f
		}},
		{name: "duplicate path", file: func() File { return newFile(valid, "x") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file()

			_, err := writeFiles(t, NewDisk(), newFile(valid, "first"), file)

			assertWriteError(t, err, "write", file.Path)
			entries, readErr := os.ReadDir(dir)
			if readErr != nil {
				t.Fatal(readErr)
			}
			if len(entries) != 0 {
				t.Errorf("folder contains %d entries after a rejected write, expected none", len(entries))
			}
		})
	}
}

func TestDiskWriteLongBaseName(t *testing.T) {
	dir := t.TempDir()
	// 127 two-byte characters and one byte: 255 bytes, the usual maximum.
	name := strings.Repeat("é", 127) + "x"
	path := filepath.Join(dir, name)

	mustWrite(t, NewDisk(), newFile(path, "x"))

	if got := readFile(t, path); got != "x" {
		t.Errorf("content = %q, expected %q", got, "x")
	}
	assertNoTempFiles(t, dir)
}

func TestDiskWriteNoFiles(t *testing.T) {
	results, err := NewDisk().Write(context.Background(), "kv/app", nil)
	if err != nil {
		t.Errorf("error = %v, expected nil", err)
	}
	if len(results) != 0 {
		t.Errorf("results = %v, expected none", results)
	}
}
