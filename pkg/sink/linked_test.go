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
	"sync"
	"sync/atomic"
	"testing"
)

func linkedFile(path, content string) File {
	f := newFile(path, content)
	f.Linked = true
	return f
}

// versionsIn lists the version folders in dir.
func versionsIn(t *testing.T, dir string) []string {
	t.Helper()
	return namesIn(t, dir, isVersionName)
}

// assertLinkedLayout checks that dir holds one version folder, that ..data
// points to it, and that each name is a link into ..data with want's content.
func assertLinkedLayout(t *testing.T, dir string, want map[string]string) string {
	t.Helper()
	versions := versionsIn(t, dir)
	if len(versions) != 1 {
		t.Fatalf("version folders in %s: %v, expected exactly one", dir, versions)
	}
	target, err := os.Readlink(filepath.Join(dir, DataLinkName))
	if err != nil {
		t.Fatalf("read ..data link: %v", err)
	}
	if target != versions[0] {
		t.Errorf("..data points to %q, expected %q", target, versions[0])
	}
	info, _ := statFile(t, filepath.Join(dir, versions[0]))
	if info.Mode().Perm() != versionFolderMode {
		t.Errorf("version folder mode = %#o, expected %#o", info.Mode().Perm(), versionFolderMode)
	}
	for name, content := range want {
		path := filepath.Join(dir, name)
		link, err := os.Readlink(path)
		if err != nil {
			t.Errorf("%s is not a link: %v", name, err)
			continue
		}
		if link != linkTarget(name) {
			t.Errorf("%s points to %q, expected %q", name, link, linkTarget(name))
		}
		if got := readFile(t, path); got != content {
			t.Errorf("%s content = %q, expected %q", name, got, content)
		}
	}
	assertNoTempFiles(t, dir)
	return versions[0]
}

func TestLinkedWriteCreatesLayout(t *testing.T) {
	dir := t.TempDir()
	key := linkedFile(filepath.Join(dir, "tls.key"), "key-1")
	crt := linkedFile(filepath.Join(dir, "tls.crt"), "crt-1")
	crt.Mode = 0o644

	results := mustWrite(t, NewDisk(), key, crt)

	for i, r := range results {
		if !r.Changed {
			t.Errorf("result %d (%s): Changed = false for a new file", i, r.Path)
		}
	}
	version := assertLinkedLayout(t, dir, map[string]string{"tls.key": "key-1", "tls.crt": "crt-1"})
	info, _ := statFile(t, filepath.Join(dir, version, "tls.crt"))
	if info.Mode().Perm() != 0o644 {
		t.Errorf("tls.crt mode = %#o, expected 0644", info.Mode().Perm())
	}
	info, _ = statFile(t, filepath.Join(dir, version, "tls.key"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode = %#o, expected 0600", info.Mode().Perm())
	}
}

// TestLinkedWriteKeepsSetgid checks that a version folder keeps the
// set-group-ID bit of the linked folder, so a file without a group gets
// the folder's group, as a file of the files layout does. Giving the
// folder another group than the process's needs root.
func TestLinkedWriteKeepsSetgid(t *testing.T) {
	dir := t.TempDir()
	gid := os.Getgid()
	switch {
	case os.Geteuid() == 0:
		gid = 4321
		if err := os.Chown(dir, -1, gid); err != nil {
			t.Fatal(err)
		}
	case os.Getenv("CI") == "true":
		t.Fatal("this test sets a group, which needs root, and CI runs as root; run the tests as root")
	default:
		t.Log("not root, so the group check uses the process's own group and cannot fail")
	}
	if err := os.Chmod(dir, 0o750|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	file := linkedFile(filepath.Join(dir, "tls.key"), "key-1")
	file.Mode = 0o640

	mustWrite(t, NewDisk(), file)

	version := assertLinkedLayout(t, dir, map[string]string{"tls.key": "key-1"})
	info, _ := statFile(t, filepath.Join(dir, version))
	if got := info.Mode() & modeBits; got != versionFolderMode|fs.ModeSetgid {
		t.Errorf("version folder mode = %v, expected %v", got, versionFolderMode|fs.ModeSetgid)
	}
	if _, stat := statFile(t, filepath.Join(dir, version, "tls.key")); int(stat.Gid) != gid {
		t.Errorf("tls.key gid = %d, expected the folder's %d", stat.Gid, gid)
	}
}

func TestLinkedWriteSkipsUnchanged(t *testing.T) {
	dir := t.TempDir()
	files := []File{linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(dir, "b"), "2")}
	mustWrite(t, NewDisk(), files...)
	before := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "2"})

	results := mustWrite(t, NewDisk(), files...)

	for i, r := range results {
		if r.Changed {
			t.Errorf("result %d (%s): Changed = true for an unchanged file", i, r.Path)
		}
	}
	if after := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "2"}); after != before {
		t.Errorf("version folder changed from %s to %s although nothing changed", before, after)
	}
}

func TestLinkedWriteReplacesVersion(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(dir, "b"), "2"))
	before := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "2"})

	results := mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(dir, "b"), "3"))

	if results[0].Changed || !results[1].Changed {
		t.Errorf("Changed = %t, %t, expected false for the same a and true for the new b", results[0].Changed, results[1].Changed)
	}
	after := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "3"})
	if after == before {
		t.Error("the version folder was reused; a change needs a new one")
	}
	if _, err := os.Lstat(filepath.Join(dir, before)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old version folder %s is still there: %v", before, err)
	}
}

func TestLinkedWriteConvertsPlainFiles(t *testing.T) {
	dir := t.TempDir()
	writeExisting(t, filepath.Join(dir, "a"), "1", 0o600)
	writeExisting(t, filepath.Join(dir, "b"), "old", 0o600)

	results := mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(dir, "b"), "new"))

	for i, r := range results {
		if !r.Changed {
			t.Errorf("result %d (%s): Changed = false, expected true for a plain file turned into a link", i, r.Path)
		}
	}
	assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "new"})
}

func TestLinkedWriteRemovesDroppedFile(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(dir, "b"), "2"))
	before := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "2"})
	// A link of the user's that points elsewhere stays.
	if err := os.Symlink("a", filepath.Join(dir, "mine")); err != nil {
		t.Fatal(err)
	}

	results := mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"))

	if len(results) != 2 || results[1].Path != filepath.Join(dir, "b") {
		t.Errorf("results = %+v, expected a and then the removed b alone", results)
	}
	after := assertLinkedLayout(t, dir, map[string]string{"a": "1"})
	if after == before {
		t.Error("the version that holds the dropped file b was kept")
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link of the dropped file b is still there: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "mine")); err != nil {
		t.Errorf("a link that is not the layout's was removed: %v", err)
	}
}

func TestLinkedWriteReportsRemovedLink(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	mustWrite(t, NewDisk(), linkedFile(a, "1"), linkedFile(b, "2"), linkedFile(c, "3"))

	results := mustWrite(t, NewDisk(), linkedFile(a, "1"))

	if len(results) != 3 {
		t.Fatalf("results = %+v, expected one for a and one for each removed link", results)
	}
	if results[0] != (Result{Path: a}) {
		t.Errorf("result 0 = %+v, expected a unchanged and first", results[0])
	}
	for i, path := range []string{b, c} {
		want := Result{Path: path, Changed: true, Removed: true}
		if got := results[i+1]; got != want {
			t.Errorf("result %d = %+v, expected %+v", i+1, got, want)
		}
	}

	results = mustWrite(t, NewDisk(), linkedFile(a, "1"))

	if len(results) != 1 || results[0] != (Result{Path: a}) {
		t.Errorf("results of the next write = %+v, expected a alone and unchanged", results)
	}
}

func TestLinkedWriteRemovesLeftoverVersions(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"))
	// A version folder that a crash left before its switch.
	leftover, err := createVersionFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeExisting(t, filepath.Join(dir, leftover, "a"), "half", 0o600)
	// A folder of the user's whose name only starts like a version folder.
	users := filepath.Join(dir, "..keep")
	if err := os.Mkdir(users, 0o700); err != nil {
		t.Fatal(err)
	}

	mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "2"))

	assertLinkedLayout(t, dir, map[string]string{"a": "2"})
	if _, err := os.Stat(users); err != nil {
		t.Errorf("a folder that is not a version folder was removed: %v", err)
	}
}

func TestLinkedWriteFailureChangesNothing(t *testing.T) {
	injected := errors.New("injected failure")
	cases := []struct {
		name   string
		op     string
		inject func(d *Disk)
	}{
		{
			name: "fsync of a file fails",
			op:   "sync",
			inject: func(d *Disk) {
				onDisk(d)
				d.ops.syncFile = func(f *os.File) error {
					if filepath.Base(f.Name()) == "b" {
						return injected
					}
					return f.Sync()
				}
			},
		},
		{
			name: "switch fails",
			op:   "rename",
			inject: func(d *Disk) {
				d.ops.rename = func(oldPath, newPath string) error {
					if filepath.Base(newPath) == DataLinkName {
						return injected
					}
					return renameFile(oldPath, newPath)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(dir, "b"), "2"))
			before := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "2"})
			d := NewDisk()
			tc.inject(d)

			_, err := writeFiles(t, d, linkedFile(filepath.Join(dir, "a"), secretContent), linkedFile(filepath.Join(dir, "b"), secretContent))

			if !errors.Is(err, injected) {
				t.Fatalf("error = %v, expected the injected failure", err)
			}
			var writeErr *WriteError
			if !errors.As(err, &writeErr) || writeErr.Op != tc.op {
				t.Errorf("error = %v, expected a WriteError with Op %q", err, tc.op)
			}
			assertNoContent(t, err)
			if after := assertLinkedLayout(t, dir, map[string]string{"a": "1", "b": "2"}); after != before {
				t.Errorf("version changed from %s to %s after a failed write", before, after)
			}
		})
	}
}

func TestLinkedWriteEmptyContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	mustWrite(t, NewDisk(), linkedFile(path, "1"))

	_, err := writeFiles(t, NewDisk(), linkedFile(path, ""))

	var empty *EmptyError
	if !errors.As(err, &empty) || empty.Path != path {
		t.Fatalf("error = %v, expected an EmptyError for %s", err, path)
	}
	assertLinkedLayout(t, dir, map[string]string{"a": "1"})

	allowed := linkedFile(path, "")
	allowed.AllowEmpty = true
	mustWrite(t, NewDisk(), allowed)
	assertLinkedLayout(t, dir, map[string]string{"a": ""})
}

func TestLinkedWriteRejects(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files []File
		path  string // the path the error must name
		text  string
	}{
		{
			name:  "two folders",
			files: []File{linkedFile(filepath.Join(dir, "a"), "1"), linkedFile(filepath.Join(other, "b"), "2")},
			path:  filepath.Join(other, "b"),
			text:  "one folder",
		},
		{
			name:  "name of the layout",
			files: []File{linkedFile(filepath.Join(dir, "..data"), "1")},
			path:  filepath.Join(dir, "..data"),
			text:  `starting with ".."`,
		},
		{
			name:  "mixed",
			files: []File{linkedFile(filepath.Join(dir, "a"), "1"), newFile(filepath.Join(dir, "b"), "2")},
			path:  filepath.Join(dir, "b"),
			text:  "linked",
		},
		{
			name:  "destination is a folder",
			files: []File{linkedFile(other, "1")},
			path:  other,
			text:  "folder",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := writeFiles(t, NewDisk(), tc.files...)
			assertWriteError(t, err, "write", tc.path)
			if err != nil && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not contain %q", err, tc.text)
			}
			if _, statErr := os.Lstat(filepath.Join(dir, DataLinkName)); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("..data exists after a rejected write: %v", statErr)
			}
		})
	}
}

func TestLinkedWriteDataIsNotALink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, DataLinkName), 0o700); err != nil {
		t.Fatal(err)
	}

	_, err := writeFiles(t, NewDisk(), linkedFile(filepath.Join(dir, "a"), "1"))

	assertWriteError(t, err, "write", filepath.Join(dir, DataLinkName))
	if err != nil && !strings.Contains(err.Error(), "exists and is not a link") {
		t.Errorf("error = %v, expected one that says ..data is not a link", err)
	}
	if _, statErr := os.Lstat(filepath.Join(dir, "a")); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("a was written although ..data is in the way: %v", statErr)
	}
}

// TestLinkedWriteKeepsPairs replaces a pair of files many times while
// readers look at what ..data points to. Every version a reader finds must
// hold a matching pair.
func TestLinkedWriteKeepsPairs(t *testing.T) {
	dir := t.TempDir()
	write := func(n int) {
		value := fmt.Sprintf("version-%d", n)
		mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "tls.key"), value), linkedFile(filepath.Join(dir, "tls.crt"), value))
	}
	write(0)

	var stop atomic.Bool
	var checked, mismatched atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				version, err := os.Readlink(filepath.Join(dir, DataLinkName))
				if err != nil {
					mismatched.Add(1) // ..data must always exist after the first write
					continue
				}
				key, errKey := os.ReadFile(filepath.Join(dir, version, "tls.key"))
				crt, errCrt := os.ReadFile(filepath.Join(dir, version, "tls.crt"))
				if errors.Is(errKey, fs.ErrNotExist) || errors.Is(errCrt, fs.ErrNotExist) {
					continue // replaced and removed while being read
				}
				checked.Add(1)
				if errKey != nil || errCrt != nil || string(key) != string(crt) {
					mismatched.Add(1)
				}
			}
		}()
	}
	for n := 1; n <= 300; n++ {
		write(n)
	}
	stop.Store(true)
	wg.Wait()

	if mismatched.Load() > 0 {
		t.Errorf("readers saw %d versions without a matching pair (or no ..data) in %d looks", mismatched.Load(), checked.Load())
	}
	if checked.Load() == 0 {
		t.Error("readers checked no version; the test checked nothing")
	}
	assertLinkedLayout(t, dir, map[string]string{"tls.key": "version-300", "tls.crt": "version-300"})
}

func TestRemoveStaleTempRemovesLinks(t *testing.T) {
	dir := t.TempDir()
	link, err := createTempLink(dir, DataLinkName, "..2026_12_04_16_07_56.0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}

	removed, err := RemoveStaleTemp([]string{dir})

	if err != nil {
		t.Fatalf("RemoveStaleTemp: %v", err)
	}
	if len(removed) != 1 || removed[0] != link {
		t.Errorf("removed %v, expected [%s]", removed, link)
	}
}

func TestFolderWritesLinkedAsPlain(t *testing.T) {
	root := t.TempDir()
	file := linkedFile("/etc/app/a", "1")

	if _, err := NewFolder(root).Write(context.Background(), "kv/app", []File{file}); err != nil {
		t.Fatalf("Write: %v", err)
	}

	info, _ := statFile(t, filepath.Join(root, "etc/app/a"))
	if !info.Mode().IsRegular() {
		t.Errorf("file under the output folder has mode %v, expected a plain file", info.Mode())
	}
}

func TestIsVersionName(t *testing.T) {
	for name, want := range map[string]bool{
		"..2026_12_04_16_07_56.0123456789abcdef":  true,
		"..2026_13_04_16_07_56.0123456789abcdef":  false, // no month 13
		"..2026_12_04_16_07_56.0123456789ABCDEF":  false,
		"..2026_12_04_16_07_56.0123456789abcde":   false,
		".2026_12_04_16_07_56.0123456789abcdef":   false,
		"..data":                                  false,
		"..2026_12_04_16_07_56-0123456789abcdef":  false,
		"..2026_12_04_16_07_56.0123456789abcdef0": false,
	} {
		if got := isVersionName(name); got != want {
			t.Errorf("isVersionName(%q) = %t, expected %t", name, got, want)
		}
	}
}

func TestRemoveStaleVersionsKeepsCurrent(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, NewDisk(), linkedFile(filepath.Join(dir, "tls.key"), "k1"))
	current := assertLinkedLayout(t, dir, map[string]string{"tls.key": "k1"})
	// A crash before a switch leaves a full version folder, and one after
	// it leaves the old version.
	leftovers := []string{"..2020_01_02_03_04_05.0123456789abcdef", "..2030_01_02_03_04_05.fedcba9876543210"}
	for _, name := range leftovers {
		if err := os.MkdirAll(filepath.Join(dir, name, "tls.key"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A folder that only looks like a version folder stays.
	if err := os.Mkdir(filepath.Join(dir, "..mine"), 0o700); err != nil {
		t.Fatal(err)
	}

	removed, err := RemoveStaleVersions([]string{dir, filepath.Join(dir, "missing")})

	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, leftovers[0]), filepath.Join(dir, leftovers[1])}
	if !slicesEqualSorted(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	if got := assertLinkedLayout(t, dir, map[string]string{"tls.key": "k1"}); got != current {
		t.Errorf("current version %s became %s", current, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "..mine")); err != nil {
		t.Errorf("..mine was removed: %v", err)
	}
}

func TestRemoveStaleVersionsWithoutDataLink(t *testing.T) {
	dir := t.TempDir()
	version := filepath.Join(dir, "..2020_01_02_03_04_05.0123456789abcdef")
	if err := os.Mkdir(version, 0o700); err != nil {
		t.Fatal(err)
	}

	removed, err := RemoveStaleVersions([]string{dir})

	if err != nil || len(removed) != 1 || removed[0] != version {
		t.Errorf("removed %q (%v), want only %s", removed, err, version)
	}
}

// TestRemoveStaleVersionsLeavesUnknownData checks that a folder whose
// ..data is not a link to a version folder keeps everything.
func TestRemoveStaleVersionsLeavesUnknownData(t *testing.T) {
	dir := t.TempDir()
	version := filepath.Join(dir, "..2020_01_02_03_04_05.0123456789abcdef")
	if err := os.Mkdir(version, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("elsewhere", filepath.Join(dir, DataLinkName)); err != nil {
		t.Fatal(err)
	}

	removed, err := RemoveStaleVersions([]string{dir})

	if err != nil || len(removed) != 0 {
		t.Errorf("removed %q (%v), want nothing", removed, err)
	}
	if _, err := os.Stat(version); err != nil {
		t.Errorf("the version folder was removed: %v", err)
	}
}

func slicesEqualSorted(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
