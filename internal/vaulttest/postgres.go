package vaulttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresBinEnv is the environment variable that names the folder of the
// PostgreSQL binaries (initdb, postgres, psql) that StartPostgres runs.
// scripts/postgres.sh prints such a folder, and scripts/test.sh sets it.
const PostgresBinEnv = "SECRETS_SYNC_POSTGRES_BIN_DIR"

const (
	// postgresAdmin is the superuser that initdb creates, which Vault's
	// database engine logs in as.
	postgresAdmin = "vault_admin"
	// postgresUser is the system user that runs the server when the tests
	// run as root, because PostgreSQL refuses to run as root. Debian's
	// package creates it.
	postgresUser = "postgres"
	// postgresReadyTimeout bounds the wait for a started server to accept
	// a login.
	postgresReadyTimeout = 30 * time.Second
)

// Postgres is a PostgreSQL server on 127.0.0.1 for one test, in a
// temporary folder, with a superuser that logs in with a password over
// TCP.
type Postgres struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// User and Password are the superuser's, random for each server.
	User, Password string

	binDir  string
	dir     string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// StartPostgres creates a database cluster in a temporary folder and starts
// PostgreSQL on a free port of 127.0.0.1, with its Unix socket in that
// folder. The server stops and the folder is removed when the test ends.
// When run as root, the server runs as the postgres system user. When no
// binaries are found or the server does not start, the test is skipped, or
// fails when the CI environment variable is true.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := startPostgres()
	if p != nil {
		t.Cleanup(func() {
			if t.Failed() && p.logPath != "" {
				t.Logf("PostgreSQL log %s:\n%s", p.logPath, readTail(p.logPath, logPrintBytes))
			}
			p.stop()
		})
	}
	if err != nil {
		if inCI() {
			t.Fatalf("vaulttest: PostgreSQL unavailable (CI is set, so this is a failure): %v", err)
		}
		t.Skipf("vaulttest: skipping, PostgreSQL unavailable (set CI=true to fail instead): %v", err)
	}
	return p
}

// ConnectionURL returns the connection_url of Vault's postgresql database
// plugin for this server, with Vault's {{username}} and {{password}}
// placeholders.
func (p *Postgres) ConnectionURL() string {
	return fmt.Sprintf("postgresql://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// Query runs sql with psql over TCP, logged in as user with password, and
// returns its output without the trailing newline. The error contains
// psql's message, which names the user but never the password.
func (p *Postgres) Query(user, password, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(p.binDir, "psql"), "-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", user, "-d", "postgres", "-c", sql)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "PGPASSWORD=" + password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=5"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql as %s: %w: %s", user, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

// postgresBinDir returns $SECRETS_SYNC_POSTGRES_BIN_DIR, else the bin
// folder of the newest version under /usr/lib/postgresql, where Debian
// installs it.
func postgresBinDir() (string, error) {
	dir := os.Getenv(PostgresBinEnv)
	source := PostgresBinEnv
	if dir == "" {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(found, func(i, j int) bool { return majorVersion(found[i]) < majorVersion(found[j]) })
		if len(found) == 0 {
			return "", fmt.Errorf("%s is not set and /usr/lib/postgresql has no version; run scripts/postgres.sh, which installs Debian's postgresql package", PostgresBinEnv)
		}
		dir, source = found[len(found)-1], "the newest version under /usr/lib/postgresql"
	}
	for _, name := range []string{"initdb", "postgres", "psql"} {
		if err := checkExecutable(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s (%s): %w", dir, source, err)
		}
	}
	return dir, nil
}

// majorVersion returns N of /usr/lib/postgresql/N/bin, or 0.
func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// serverCredential returns the user that runs the server: nil for this
// process's own user, or the postgres system user when this process is
// root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(postgresUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and no %s user exists to run it (%w); install Debian's postgresql package, which creates it", postgresUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid %q of user %s: %w", u.Uid, postgresUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid %q of user %s: %w", u.Gid, postgresUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startPostgres runs initdb and starts the server. It returns the server
// for cleanup whenever its folder was created, even with an error.
func startPostgres() (*Postgres, error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	password, err := randomToken()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: the server's user must reach the folder, and the
	// parent that t.TempDir creates is private to this process's user.
	dir, err := os.MkdirTemp("", "secrets-sync-postgres-")
	if err != nil {
		return nil, fmt.Errorf("create a folder for PostgreSQL: %w", err)
	}
	p := &Postgres{User: postgresAdmin, Password: password, binDir: binDir, dir: dir, logPath: filepath.Join(dir, "postgres.log")}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return p, fmt.Errorf("give %s to user %s: %w", dir, postgresUser, err)
		}
	}
	if err := p.initdb(cred); err != nil {
		return p, err
	}

	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			return p, err
		}
		lastErr = p.launch(cred, port)
		if lastErr == nil {
			return p, nil
		}
		if !errors.Is(lastErr, errPortTaken) {
			return p, lastErr
		}
	}
	return p, fmt.Errorf("no free port after %d attempts: %w", portAttempts, lastErr)
}

// initdb creates the cluster in p.dir/data with the superuser p.User,
// who logs in over TCP with p.Password (SCRAM) and over the socket in
// p.dir without one.
func (p *Postgres) initdb(cred *syscall.Credential) error {
	pwfile := filepath.Join(p.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the password file for initdb: %w", err)
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("give the password file to user %s: %w", postgresUser, err)
		}
	}
	cmd := exec.Command(filepath.Join(p.binDir, "initdb"), "-D", filepath.Join(p.dir, "data"), "-U", p.User,
		"--pwfile="+pwfile, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	setPostgresAttributes(cmd, cred)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb failed: %w\n%s", err, out)
	}
	return nil
}

// launch starts the server on port and waits until the superuser can log
// in. A server that exits because the port is taken returns errPortTaken.
func (p *Postgres) launch(cred *syscall.Credential, port int) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the PostgreSQL log: %w", err)
	}
	defer logFile.Close()
	// fsync=off: the cluster is thrown away after the test.
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"), "-D", filepath.Join(p.dir, "data"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", p.dir, "-c", "fsync=off")
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setPostgresAttributes(cmd, cred)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done, p.Port = cmd, done, port

	deadline := time.Now().Add(postgresReadyTimeout)
	for {
		_, queryErr := p.Query(p.User, p.Password, "SELECT 1")
		if queryErr == nil {
			return nil
		}
		select {
		case <-done:
			p.cmd = nil
			tail := readTail(p.logPath, logTailBytes)
			if strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, port)
			}
			return fmt.Errorf("postgres exited (%v) before it accepted a login; its log:\n%s", waitErr, tail)
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("postgres did not accept a login within %s: %v", postgresReadyTimeout, queryErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the server down (SIGINT, PostgreSQL's fast shutdown), kills
// it if it has not exited after stopTimeout, and removes its folder.
func (p *Postgres) stop() {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.cmd = nil
	}
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}
