//go:build linux

package main_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// readAsPathEnv and readAsWantEnv turn TestReadAsUserHelper into a reader
// of one file or folder, run as another user: the path and its expected
// content, or for a folder its names joined by commas.
const (
	readAsPathEnv = "SECRETS_SYNC_TEST_READ_PATH"
	readAsWantEnv = "SECRETS_SYNC_TEST_READ_WANT"
)

// Users that the tests write files for and read them as. None of them
// needs to exist in /etc/passwd.
const (
	nobodyID      = 65534 // "nobody" on most Linux distributions
	otherID       = 65533
	groupMemberID = 65532 // a user whose only access is the group nobodyID
)

// requireRootForOwners skips a test that gives files and folders to other
// users when not run as root, and fails it in CI, which runs as root.
func requireRootForOwners(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test sets owners and runs processes as other users, which needs root, and CI runs as root; run the suite as root")
	}
	t.Skip("setting owners and running as another user need root")
}

// TestReadAsUserHelper reads one file or lists one folder on behalf of
// readAs, and does nothing in a normal test run.
func TestReadAsUserHelper(t *testing.T) {
	path := os.Getenv(readAsPathEnv)
	if path == "" {
		t.Skip("runs only as the helper of readAs")
	}
	var got string
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			t.Fatalf("as uid %d gid %d groups %v: %v", os.Getuid(), os.Getgid(), groupsOf(t), err)
		}
		var names []string
		for _, entry := range entries {
			names = append(names, entry.Name())
		}
		got = strings.Join(names, ",")
	} else {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("as uid %d gid %d groups %v: %v", os.Getuid(), os.Getgid(), groupsOf(t), err)
		}
		got = string(data)
	}
	if want := os.Getenv(readAsWantEnv); got != want {
		t.Fatalf("%s contains %q, want %q", path, got, want)
	}
}

func groupsOf(t *testing.T) []int {
	groups, err := os.Getgroups()
	if err != nil {
		t.Logf("getgroups: %v", err)
	}
	return groups
}

// readAs reads the file or lists the folder at path as a process of uid
// and gid with the supplementary groups. It returns nil when it finds want,
// and otherwise an error with the helper's output.
// The child runs this test binary through /proc/self/exe, which works
// although the go tool builds the binary in a folder only root may enter.
func readAs(t *testing.T, path, want string, uid, gid uint32, groups ...uint32) error {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^TestReadAsUserHelper$")
	cmd.Dir = "/"
	cmd.Env = []string{readAsPathEnv + "=" + path, readAsWantEnv + "=" + want}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups},
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run the reader as uid %d: %v", uid, err)
	}
	if err != nil {
		return errors.New(out.String())
	}
	return nil
}

// openBase returns a new folder that every user may enter, as a volume
// mounted for secrets is, so that only the folders below it decide.
func openBase(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir makes dir and its parent with mode 0700.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// expectFolder checks the owner, group and mode of a folder.
func expectFolder(t *testing.T, path string, uid, gid uint32, mode os.FileMode) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	stat := info.Sys().(*syscall.Stat_t)
	if stat.Uid != uid || stat.Gid != gid {
		t.Errorf("%s is owned by %d:%d, want %d:%d", path, stat.Uid, stat.Gid, uid, gid)
	}
	if got := info.Mode() & (os.ModePerm | os.ModeSetgid); got != mode {
		t.Errorf("%s has mode %v, want %v", path, got, mode)
	}
}

// TestSyncOnceNewFoldersLetOwnersIn checks, as root, that the users and
// groups that files are written for can read them through the nested
// folders that sync --once creates, in both layouts.
func TestSyncOnceNewFoldersLetOwnersIn(t *testing.T) {
	requireRootForOwners(t)
	t.Parallel()
	s := vaulttest.Shared(t)
	const value = "owners-value-1"
	s.WriteKV2(t, "secret", "onceowners/app", map[string]any{"v": value})
	dir := openBase(t)
	// A volume shared through its group, as Kubernetes' fsGroup makes one.
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(shared, -1, nobodyID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: owned
    key: onceowners/app
    files:
      - {path: owned/app/db-password, field: v, owner: 65534}
      - {path: grouped/web/tls.key, field: v, group: 65534, mode: "0640"}
      - {path: mixed/a, field: v, owner: 65534}
      - {path: mixed/b, field: v, owner: 65533}
  - name: linked
    key: onceowners/app
    layout: linked
    files:
      - {path: linked/web/tls.key, field: v, owner: 65534}
      - {path: linked/web/ca.crt, field: v, owner: 65534, group: 65534, mode: "0640"}
  - name: shared
    key: onceowners/app
    layout: linked
    files:
      - {path: shared/web/tls.key, field: v, mode: "0640"}
`)

	expectCode(t, run(t, dir, serverEnv(s), "sync", "--once", "-c", cfg), 0)

	readers := []struct {
		file   string
		uid    uint32
		groups []uint32
	}{
		{file: "owned/app/db-password", uid: nobodyID},
		{file: "grouped/web/tls.key", uid: groupMemberID, groups: []uint32{nobodyID}},
		{file: "mixed/a", uid: nobodyID},
		{file: "mixed/b", uid: otherID},
		{file: "linked/web/tls.key", uid: nobodyID},
		{file: "linked/web/ca.crt", uid: groupMemberID, groups: []uint32{nobodyID}},
		{file: "shared/web/tls.key", uid: groupMemberID, groups: []uint32{nobodyID}},
	}
	for _, r := range readers {
		if err := readAs(t, filepath.Join(dir, r.file), value, r.uid, r.uid, r.groups...); err != nil {
			t.Errorf("uid %d in groups %v cannot read %s:\n%v", r.uid, r.groups, r.file, err)
		}
	}
	// Each owner in the shared folder reaches its own file alone, and
	// cannot list the folder.
	if err := readAs(t, filepath.Join(dir, "mixed/b"), value, nobodyID, nobodyID); err == nil {
		t.Errorf("uid %d read mixed/b, which belongs to uid %d", nobodyID, otherID)
	}
	if err := readAs(t, filepath.Join(dir, "mixed"), "a,b", nobodyID, nobodyID); err == nil {
		t.Errorf("uid %d listed mixed, which has files of two owners", nobodyID)
	}
	// The owner of the folder that holds its files may list it.
	if err := readAs(t, filepath.Join(dir, "owned/app"), "db-password", nobodyID, nobodyID); err != nil {
		t.Errorf("uid %d cannot list owned/app, which it owns:\n%v", nobodyID, err)
	}

	rootGID := uint32(os.Getgid())
	// Only the folder that a file is written into directly is given away.
	expectFolder(t, filepath.Join(dir, "owned"), 0, rootGID, 0o711)
	expectFolder(t, filepath.Join(dir, "owned/app"), nobodyID, rootGID, 0o700)
	expectFolder(t, filepath.Join(dir, "grouped"), 0, nobodyID, 0o750)
	expectFolder(t, filepath.Join(dir, "grouped/web"), 0, nobodyID, 0o750)
	expectFolder(t, filepath.Join(dir, "mixed"), 0, rootGID, 0o711)
	expectFolder(t, filepath.Join(dir, "linked"), 0, rootGID, 0o751)
	expectFolder(t, filepath.Join(dir, "linked/web"), 0, rootGID, 0o751)
	expectFolder(t, filepath.Join(dir, "shared/web"), 0, nobodyID, 0o750|os.ModeSetgid)
}
