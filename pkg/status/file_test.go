package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sampleStatus(secrets int) Status {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := Status{PID: 42, StartedAt: now, Command: CommandWatch, UpdatedAt: now, Secrets: []SecretStatus{}}
	for i := range secrets {
		s.Secrets = append(s.Secrets, SecretStatus{
			Name: fmt.Sprintf("secret-%04d", i), State: StateSynced,
			LastAttempt: now, LastSuccess: now, Files: 1,
		})
	}
	return s
}

func TestWriteFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	want := sampleStatus(2)
	want.TokenError = "token expired; login denied"
	want.TokenErrors = []string{"token expired", "login denied"}
	want.Secrets[1] = SecretStatus{Name: "tls", State: StateFailed, LastError: "forbidden", MaxStaleSeconds: 90}

	if err := WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("read back\n%s\nwant\n%s", gotJSON, wantJSON)
	}
}

// TestWriteFileOneLinePerSecret checks the layout of the file: the status
// fields indented one to a line, then each secret on a line of its own,
// for no secrets, one, and several with names that JSON must escape.
func TestWriteFileOneLinePerSecret(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		path := filepath.Join(t.TempDir(), "status.json")
		want := sampleStatus(n)
		if n > 1 {
			want.Secrets[1].Name = "quote\" and <tag>\n"
			want.Secrets[1].LastError = "line one\nline two"
		}
		if err := WriteFile(path, want); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got Status
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%d secrets: the file is not JSON: %v\n%s", n, err, data)
		}
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%d secrets: read back\n%s\nwant\n%s", n, gotJSON, wantJSON)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		// "{", the six fields before secrets, the secrets line, then one line
		// a secret and "  ]" when there are any, and "}".
		wantLines := 9
		if n > 0 {
			wantLines += n + 1
		}
		if len(lines) != wantLines {
			t.Errorf("%d secrets: %d lines, want %d:\n%s", n, len(lines), wantLines, data)
			continue
		}
		for i := range n {
			line := lines[8+i]
			if !strings.HasPrefix(line, `    {"name":`) {
				t.Errorf("%d secrets: line %d is %q, want secret %d on it", n, 9+i, line, i)
			}
		}
	}
}

func TestWriteFileMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	path := filepath.Join(t.TempDir(), "status.json")
	if err := WriteFile(path, sampleStatus(1)); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o644 {
		t.Errorf("mode = %04o, want 0644 whatever the umask", got)
	}
}

// TestWriteFileReplacesByRename checks that the file is replaced by a new
// inode, not rewritten in place, and that no temporary file is left.
func TestWriteFileReplacesByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	if err := WriteFile(path, sampleStatus(1)); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	if err := WriteFile(path, sampleStatus(2)); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Error("the status file kept its inode, so it was written in place")
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only status.json", names)
	}
}

// TestWriteFileReaderSeesWholeFile reads the file while it is rewritten
// over and over: every read must parse as a whole status.
func TestWriteFileReaderSeesWholeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	if err := WriteFile(path, sampleStatus(1)); err != nil {
		t.Fatal(err)
	}
	const writes = 60
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range writes {
			// Sizes alternate so that a write in place would leave a
			// short or mixed file for the reader to find.
			if err := WriteFile(path, sampleStatus(1+(i%2)*200)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Error("the reader never ran")
			}
			return
		default:
		}
		if _, err := ReadFile(path); err != nil {
			t.Fatalf("read %d saw a partial file: %v", reads, err)
		}
		reads++
	}
}

func TestWriteFileMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-folder", "status.json")
	err := WriteFile(path, sampleStatus(1))
	if err == nil {
		t.Fatal("WriteFile into a missing folder succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestWriteFileLeavesNoTempOnError(t *testing.T) {
	dir := t.TempDir()
	// A folder in the way makes the rename fail after the temp file exists.
	path := filepath.Join(dir, "status.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, sampleStatus(1)); err == nil {
		t.Fatal("WriteFile over a non-empty folder succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after a failed write, want only the folder in the way", len(entries))
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing", filepath.Join(dir, "absent.json"), "no such file"},
		{"empty", write("empty.json", ""), "the file is empty"},
		{"truncated", write("truncated.json", `{"pid": 4`), "invalid JSON"},
		{"not a status", write("other.json", `{"hello": "world"}`), "no command field"},
		{"wrong type", write("type.json", `{"pid": "four", "command": "watch"}`), "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFile(tt.path)
			if err == nil {
				t.Fatal("ReadFile succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name %s", err, tt.path)
			}
		})
	}
}

func TestReadFileMissingIsNotExist(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "absent.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("TMPDIR", "/some/tmp")
	if got := DefaultPath(); got != "/some/tmp/secrets-sync.status.json" {
		t.Errorf("DefaultPath() = %q", got)
	}
}

func TestProcessAlive(t *testing.T) {
	if !ProcessAlive(os.Getpid()) {
		t.Error("this test's own process is not alive")
	}
	if !ProcessAlive(1) {
		t.Error("pid 1 is not alive (EPERM must count as alive)")
	}
	for _, pid := range []int{0, -1} {
		if ProcessAlive(pid) {
			t.Errorf("pid %d is alive, want false", pid)
		}
	}

	// A child that has exited and been waited for no longer exists.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if pid := cmd.Process.Pid; ProcessAlive(pid) {
		t.Errorf("exited child %d is alive", pid)
	}
}
