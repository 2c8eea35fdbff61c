//go:build linux

package sink

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// chownHelperEnv names the variable that turns TestChownHelperProcess into
// a helper run as an unprivileged user. Its value is the output folder.
const chownHelperEnv = "SECRETS_SYNC_SINK_CHOWN_HELPER"

// unprivilegedID is the uid and gid of the helper process ("nobody" on most
// Linux distributions).
const unprivilegedID = 65534

// TestDiskWriteChownAsNonRoot checks the real EPERM of a chown by a process
// without CAP_CHOWN. As root it runs this test binary again as uid and gid
// 65534, and as any other user it writes directly.
func TestDiskWriteChownAsNonRoot(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		runChownAttempts(t, dir, os.Getuid(), os.Getgid())
		return
	}

	binary := copyTestBinary(t)
	if err := os.Chown(dir, unprivilegedID, unprivilegedID); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-test.run=^TestChownHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), chownHelperEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: unprivilegedID, Gid: unprivilegedID, NoSetGroups: true},
	}
	output, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Skipf("cannot run the test binary as uid %d: %v", unprivilegedID, err)
	}
	if err != nil {
		t.Fatalf("helper as uid %d failed: %v\n%s", unprivilegedID, err, output)
	}
	t.Logf("helper output:\n%s", output)
	if !strings.Contains(string(output), "PASS") {
		t.Fatalf("helper as uid %d did not pass:\n%s", unprivilegedID, output)
	}
}

// TestChownHelperProcess runs as an unprivileged user on behalf of
// TestDiskWriteChownAsNonRoot and does nothing in a normal test run.
func TestChownHelperProcess(t *testing.T) {
	dir := os.Getenv(chownHelperEnv)
	if dir == "" {
		t.Skip("runs only as the helper of TestDiskWriteChownAsNonRoot")
	}
	runChownAttempts(t, dir, os.Getuid(), os.Getgid())
}

// runChownAttempts checks, as a process without CAP_CHOWN, that a chown to
// another user fails with an *OwnerError and leaves nothing behind, in an
// existing folder and in a new one, and that a chown to the process's own
// uid and gid succeeds.
func runChownAttempts(t *testing.T, dir string, ownUID, ownGID int) {
	t.Helper()
	if ownUID == 1234 || ownGID == 1234 {
		t.Skip("the test user has id 1234, which the test needs as a foreign id")
	}
	d := NewDisk()

	foreign := filepath.Join(dir, "foreign")
	file := newFile(foreign, secretContent)
	file.UID, file.GID = 1234, 1234
	_, err := d.Write(context.Background(), "kv/app", []File{file})
	t.Logf("chown error as uid %d: %v", ownUID, err)
	assertChownPermissionError(t, err, foreign)
	if _, statErr := os.Lstat(foreign); statErr == nil {
		t.Error("destination exists after chown failed")
	}
	assertNoTempFiles(t, dir)

	// A new folder for a file of another owner stays the process's, and
	// the error is the file's, as above.
	newDir := filepath.Join(dir, "new")
	foreign = filepath.Join(newDir, "foreign")
	file = newFile(foreign, secretContent)
	file.UID, file.GID = 1234, 1234
	file.NewFolders = map[string]FolderAttrs{newDir: {Mode: 0o700, UID: 1234, GID: 1234}}
	_, err = d.Write(context.Background(), "kv/app", []File{file})
	assertChownPermissionError(t, err, foreign)
	if info, statErr := os.Stat(newDir); statErr != nil || info.Sys().(*syscall.Stat_t).Uid != uint32(ownUID) {
		t.Errorf("new folder %s is not the process's (stat: %v)", newDir, statErr)
	}

	own := filepath.Join(dir, "own")
	file = newFile(own, "x")
	file.UID, file.GID = ownUID, ownGID
	if _, err := d.Write(context.Background(), "kv/app", []File{file}); err != nil {
		t.Errorf("chown to the process's own uid %d and gid %d failed: %v", ownUID, ownGID, err)
	}

	ownDir := filepath.Join(dir, "own-folder")
	file = newFile(filepath.Join(ownDir, "own"), "x")
	file.UID, file.GID = ownUID, ownGID
	file.NewFolders = map[string]FolderAttrs{ownDir: {Mode: 0o700, UID: ownUID, GID: ownGID}}
	if _, err := d.Write(context.Background(), "kv/app", []File{file}); err != nil {
		t.Errorf("a new folder for the process's own uid %d and gid %d failed: %v", ownUID, ownGID, err)
	}
}

// copyTestBinary copies the running test binary into a folder that any user
// may read and run, because the go tool builds it in a folder only its
// owner can enter.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	source, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary: %v", err)
	}
	dir := t.TempDir()
	// t.TempDir makes dir and its parent with mode 0700.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(dir, "sink.test")
	if err := copyFile(source, target, 0o755); err != nil {
		t.Fatalf("copy test binary: %v", err)
	}
	return target
}

func copyFile(source, target string, mode os.FileMode) error {
	in, err := os.Open(source)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}
