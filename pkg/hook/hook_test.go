package hook

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

func testLogger() (*log.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return log.NewWithOptions(&buf, log.Options{Level: log.DebugLevel, Formatter: log.LogfmtFormatter}), &buf
}

func shell(script string) *config.OnChange {
	return &config.OnChange{Command: []string{"/bin/sh", "-c", script}, Timeout: 10 * time.Second}
}

func TestRunCommandEnvironment(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "token-that-must-not-leak")
	t.Setenv("BAO_TOKEN", "bao-token-that-must-not-leak")
	t.Setenv("VAULT_SECRET_ID", "secret-id-that-must-not-leak")
	t.Setenv("VAULT_ADDR", "https://127.0.0.1:8200")
	t.Setenv("BAO_CACERT", "/certs/ca.pem")
	t.Setenv("KEPT_VARIABLE", "kept")
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	logger, _ := testLogger()
	NewRunner(logger).Run(context.Background(), "db", shell("env > "+out), []string{"/run/a:b", "/run/c"})

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(data)
	if !strings.Contains(env, "SECRETS_SYNC_SECRET=db\n") {
		t.Errorf("environment lacks SECRETS_SYNC_SECRET=db:\n%s", env)
	}
	if !strings.Contains(env, "SECRETS_SYNC_CHANGED_FILES=/run/a:b\n/run/c\n") {
		t.Errorf("environment lacks the changed paths, one per line:\n%s", env)
	}
	if strings.Contains(env, "must-not-leak") {
		t.Errorf("environment contains a VAULT_ or BAO_ credential:\n%s", env)
	}
	for _, setting := range []string{"VAULT_ADDR=https://127.0.0.1:8200\n", "BAO_CACERT=/certs/ca.pem\n"} {
		if !strings.Contains(env, setting) {
			t.Errorf("environment lacks the connection setting %q:\n%s", setting, env)
		}
	}
	if !strings.Contains(env, "KEPT_VARIABLE=kept") {
		t.Errorf("environment lost an unrelated variable:\n%s", env)
	}
}

func TestRunCommandLogsOutput(t *testing.T) {
	logger, buf := testLogger()
	NewRunner(logger).Run(context.Background(), "db", shell("echo reloaded; echo careful >&2"), []string{"/x"})
	text := buf.String()
	if !strings.Contains(text, "onChange command finished") {
		t.Errorf("no finish line in:\n%s", text)
	}
	if !strings.Contains(text, "stdout=reloaded") || !strings.Contains(text, "stderr=careful") {
		t.Errorf("output not logged:\n%s", text)
	}
	if !strings.Contains(text, "level=warn") {
		t.Errorf("output on stderr not logged as a warning:\n%s", text)
	}
}

func TestRunCommandFailureLogged(t *testing.T) {
	logger, buf := testLogger()
	NewRunner(logger).Run(context.Background(), "db", shell("echo broken >&2; exit 3"), []string{"/x"})
	text := buf.String()
	if !strings.Contains(text, "level=error") || !strings.Contains(text, "onChange command failed") {
		t.Errorf("no error line in:\n%s", text)
	}
	if !strings.Contains(text, "exit_status=3") {
		t.Errorf("exit status not logged:\n%s", text)
	}
	if !strings.Contains(text, "/bin/sh") {
		t.Errorf("command not logged:\n%s", text)
	}
}

func TestRunCommandNotFound(t *testing.T) {
	logger, buf := testLogger()
	oc := &config.OnChange{Command: []string{filepath.Join(t.TempDir(), "missing")}, Timeout: time.Second}
	NewRunner(logger).Run(context.Background(), "db", oc, []string{"/x"})
	if text := buf.String(); !strings.Contains(text, "onChange command failed") || !strings.Contains(text, "start ") {
		t.Errorf("a missing program is not reported:\n%s", text)
	}
}

func TestRunCommandTimeout(t *testing.T) {
	logger, buf := testLogger()
	oc := shell("sleep 30")
	oc.Timeout = 200 * time.Millisecond
	NewRunner(logger).Run(context.Background(), "db", oc, []string{"/x"})
	if text := buf.String(); !strings.Contains(text, "timed out after 200ms") {
		t.Errorf("timeout not reported:\n%s", text)
	}
}

func TestOutputTruncated(t *testing.T) {
	b := &limitedBuffer{limit: 8}
	b.Write([]byte("0123456789"))
	b.Write([]byte("abc"))
	if got := b.String(); got != "01234567 ... (5 more bytes left out)" {
		t.Errorf("String() = %q", got)
	}
	if b.Len() != 13 {
		t.Errorf("Len() = %d, want 13", b.Len())
	}
}

func TestNotifyRunsOneSecretAtATime(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	// Each run appends its start and end, so overlapping runs show.
	oc := shell(`echo start >> ` + log + `; sleep 0.2; echo "$SECRETS_SYNC_CHANGED_FILES" | tr '\n' ' ' >> ` + log + `; echo end >> ` + log)
	logger, _ := testLogger()
	r := NewRunner(logger)
	r.Notify("db", oc, []string{"/a"})
	time.Sleep(50 * time.Millisecond)
	// Both arrive while the first run is busy, so they run once, together.
	r.Notify("db", oc, []string{"/b"})
	r.Notify("db", oc, []string{"/c", "/b"})
	r.Wait()

	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := []string{"start", "/a end", "start", "/b /c end"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("runs = %q, want %q", lines, want)
	}
}

func TestSignalSentToPIDFile(t *testing.T) {
	// The test process signals itself, with the signal caught.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGUSR1)
	defer signal.Stop(caught)
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger, buf := testLogger()
	NewRunner(logger).Run(context.Background(), "db", &config.OnChange{Signal: syscall.SIGUSR1, PIDFile: pidFile}, []string{"/x"})
	select {
	case <-caught:
	case <-time.After(10 * time.Second):
		t.Fatalf("SIGUSR1 not received; log:\n%s", buf.String())
	}
	if text := buf.String(); !strings.Contains(text, "signal=USR1") {
		t.Errorf("signal not logged by name:\n%s", text)
	}
}

func TestSignalBadPIDFile(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"missing": filepath.Join(dir, "missing.pid"),
		"garbage": filepath.Join(dir, "garbage.pid"),
	}
	if err := os.WriteFile(cases["garbage"], []byte("not a pid"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			logger, buf := testLogger()
			NewRunner(logger).Run(context.Background(), "db", &config.OnChange{Signal: syscall.SIGHUP, PIDFile: path}, []string{"/x"})
			text := buf.String()
			if !strings.Contains(text, "onChange signal failed") || !strings.Contains(text, path) {
				t.Errorf("bad pid file not reported with its path:\n%s", text)
			}
		})
	}
}

func TestCommandKillsItsChildrenOnTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	oc := shell("sleep 30 & echo $! > " + pidFile + "; wait")
	oc.Timeout = 300 * time.Millisecond
	logger, _ := testLogger()
	NewRunner(logger).Run(context.Background(), "db", oc, []string{"/x"})
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// The child was killed with its group; wait for the kernel to reap it
	// through its parent, the shell, which died too.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		if out, _ := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output(); strings.HasPrefix(strings.TrimSpace(string(out)), "Z") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Errorf("child process %d outlived the timed-out command", pid)
}
