package vaulttest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// portAttempts is how many free ports Start tries before it gives up,
	// because another process can bind a port between the probe and the
	// server's own bind.
	portAttempts = 5
	// readyTimeout bounds the wait for a started server to return 200 from
	// /v1/sys/health and accept its root token.
	readyTimeout = 60 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before it kills the
	// server.
	stopTimeout = 10 * time.Second
	// logTailBytes is how much of the server log goes into error messages.
	logTailBytes = 4096
	// logPrintBytes caps the server log printed after a failed test.
	logPrintBytes = 64 << 10
)

// errPortTaken marks a launch that failed because the port was in use: the
// server could not bind it, or another server responded on it.
var errPortTaken = errors.New("port already in use")

// Server is a Vault dev server listening on 127.0.0.1. Dev mode keeps all
// data in memory, unsealed, with a KV v2 engine mounted at "secret".
type Server struct {
	// Addr is the server's base URL, http://127.0.0.1:PORT, or
	// https://127.0.0.1:PORT for a server from StartTLS.
	Addr string
	// RootToken is the dev server's root token, random for each server.
	RootToken string
	// CACert is the path of the CA certificate (PEM) that signs the
	// certificate of a server from StartTLS, and "" for other servers.
	// Vault makes a new CA at each start, Restart included.
	CACert string

	binary  string
	port    int
	home    string // HOME of the server process
	logPath string
	shared  bool
	certDir string // folder of the CA, certificate and key that -dev-tls writes; "" without TLS

	mu   sync.Mutex // guards proc and serializes Stop and Restart
	proc *process   // nil while the server is stopped

	// setupMu serializes check-then-enable steps such as mounting AppRole,
	// which tests using the shared server may run in parallel.
	setupMu sync.Mutex
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // result of cmd.Wait, valid after done is closed
}

// Start starts a dev server for this test and registers t.Cleanup to stop it.
// The server's log goes to a file in t.TempDir(), and is printed if the test
// fails. When no Vault binary can be built or the server does not start, Start
// skips the test, or fails it when the CI environment variable is true.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartTLS is Start for a server that serves HTTPS with -dev-tls: Vault
// generates a CA and a certificate for 127.0.0.1, and CACert is the CA's
// path. The listener requests a TLS client certificate without requiring
// one, so the cert auth method can log in with it.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, useTLS bool) *Server {
	t.Helper()

	dir := t.TempDir()
	s := &Server{
		home:    filepath.Join(dir, "home"),
		logPath: filepath.Join(dir, "vault.log"),
	}
	if useTLS {
		s.certDir = filepath.Join(dir, "certs")
		s.CACert = filepath.Join(s.certDir, "vault-ca.pem")
	}
	// Cleanups run last-in first-out: the server stops first, so its log is
	// complete when it is printed.
	t.Cleanup(func() {
		if t.Failed() {
			s.printLog(t)
		}
	})
	t.Cleanup(s.Stop)

	if err := s.init(); err != nil {
		unavailable(t, err)
	}
	return s
}

// init finds the binary and starts the server on a free port.
func (s *Server) init() error {
	binary, err := Binary()
	if err != nil {
		return err
	}
	s.binary = binary

	token, err := randomToken()
	if err != nil {
		return err
	}
	s.RootToken = token

	if err := os.MkdirAll(s.home, 0o700); err != nil {
		return fmt.Errorf("creating the server's home folder: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			return err
		}
		lastErr = s.launch(port)
		if lastErr == nil {
			return nil
		}
		if !errors.Is(lastErr, errPortTaken) {
			return lastErr
		}
	}
	return fmt.Errorf("no free port after %d attempts: %w", portAttempts, lastErr)
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited after
// stopTimeout. Stopping a stopped server does nothing. Stop panics on the
// server returned by Shared, because other tests use it; Main stops that one.
func (s *Server) Stop() {
	if s.shared {
		panic("vaulttest: Stop called on the shared server; use Start for a server that a test may stop")
	}
	s.stop()
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Restart stops the server and starts it again on the same port with the
// same root token. Dev mode keeps data only in memory, so the restarted
// server has none of the secrets, policies, tokens or mounts written before,
// except the "secret" KV v2 mount that dev mode creates: callers seed again.
// Restart fails the test if the port cannot be bound again. It is not allowed
// on the server returned by Shared.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.shared {
		t.Fatal("vaulttest: Restart called on the shared server; use Start for a server that a test may restart")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()

	// The old process has exited, so the port is normally free at once.
	// A few retries cover a process that grabs it in between.
	var err error
	for attempt := 0; attempt < portAttempts; attempt++ {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		err = s.launch(s.port)
		if err == nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		t.Fatalf("vaulttest: restarting the Vault dev server on %s: %v", s.Addr, err)
	}
}

// launch starts the server process on port and waits until it is ready.
// The caller holds s.mu.
func (s *Server) launch(port int) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the server log: %w", err)
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	fmt.Fprintf(logFile, "vaulttest: starting %s on %s at %s\n", s.binary, listen, time.Now().Format(time.RFC3339))

	args := []string{"server",
		"-dev",
		"-dev-listen-address=" + listen,
		"-dev-root-token-id=" + s.RootToken,
		// Keeps the dev server from writing the root token to
		// $HOME/.vault-token. HOME is a temporary folder as well.
		"-dev-no-store-token",
	}
	scheme := "http://"
	if s.certDir != "" {
		// Vault 1.13 exits when the folder is missing, and writes its
		// files read-only, so each launch starts with an empty folder.
		if err := resetFolder(s.certDir); err != nil {
			logFile.Close()
			return err
		}
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+s.certDir)
		scheme = "https://"
	}
	cmd := exec.Command(s.binary, args...)
	cmd.Dir = s.home
	cmd.Env = serverEnv(s.home)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcessAttributes(cmd)

	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", s.binary, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()

	addr := scheme + listen
	if err := waitReady(p, addr, s.RootToken, s.CACert); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		if strings.Contains(s.logTail(), "address already in use") {
			err = fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return fmt.Errorf("Vault dev server on %s: %w; log %s ends with:\n%s", listen, err, s.logPath, s.logTail())
	}

	// Restart launches on the same port, and skipping the equal write keeps
	// it from racing with tests that read Addr meanwhile.
	if s.Addr != addr {
		s.port = port
		s.Addr = addr
	}
	s.proc = p
	return nil
}

// waitReady polls /v1/sys/health until it returns 200, then checks that the
// server on the port accepts token, so that a server of another test that
// took the port in between is not mistaken for this one. caFile is the CA
// of an HTTPS server, which the server writes once it has started, or "".
func waitReady(p *process, addr, token, caFile string) error {
	transport := &http.Transport{Proxy: nil}
	client := &http.Client{Timeout: 2 * time.Second, Transport: transport}
	defer client.CloseIdleConnections()

	deadline := time.Now().Add(readyTimeout)
	lastStatus := "no response yet"
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("server exited before it was ready: %v", p.err)
		default:
		}

		if caFile != "" && transport.TLSClientConfig == nil {
			pool, err := loadCA(caFile)
			if err != nil {
				lastStatus = err.Error()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		status, err := getStatus(client, addr+"/v1/sys/health", "")
		switch {
		case err != nil:
			lastStatus = err.Error()
		case status == http.StatusOK:
			status, err := getStatus(client, addr+"/v1/auth/token/lookup-self", token)
			if err != nil {
				return fmt.Errorf("checking the root token: %w", err)
			}
			if status != http.StatusOK {
				return fmt.Errorf("%w: the server on the port rejected the root token with HTTP %d", errPortTaken, status)
			}
			return nil
		default:
			lastStatus = fmt.Sprintf("/v1/sys/health returned HTTP %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server not ready after %s (last check: %s)", readyTimeout, lastStatus)
}

// loadCA reads a PEM file of CA certificates into a pool.
func loadCA(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the server's CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("reading the server's CA certificate: %s contains no PEM certificate", path)
	}
	return pool, nil
}

// resetFolder removes path and everything in it, and creates it empty.
func resetFolder(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("emptying the server's TLS folder: %w", err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("creating the server's TLS folder: %w", err)
	}
	return nil
}

func getStatus(client *http.Client, url, token string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// serverEnv returns the caller's environment without HOME and VAULT_*
// variables, plus HOME set to home, so the server never reads the caller's
// Vault settings or touches the caller's ~/.vault-token.
func serverEnv(home string) []string {
	var env []string
	for _, entry := range os.Environ() {
		name, _, _ := strings.Cut(entry, "=")
		if name == "HOME" || strings.HasPrefix(name, "VAULT_") {
			continue
		}
		env = append(env, entry)
	}
	return append(env, "HOME="+home)
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process can take it before the server binds it, which init retries.
func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	if err := listener.Close(); err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	return port, nil
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a root token: %w", err)
	}
	return "root-" + hex.EncodeToString(b), nil
}

// logTail returns the last logTailBytes of the server log.
func (s *Server) logTail() string {
	return readTail(s.logPath, logTailBytes)
}

func (s *Server) printLog(t testing.TB) {
	t.Helper()
	t.Logf("Vault dev server log %s:\n%s", s.logPath, readTail(s.logPath, logPrintBytes))
}

func readTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	prefix := ""
	if info.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return fmt.Sprintf("(cannot read the log: %v)", err)
		}
		prefix = fmt.Sprintf("(first %d bytes left out)\n", info.Size()-max)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	return prefix + string(data)
}

// unavailable ends a test that cannot get a server: t.Fatal in CI, where a
// missing server is a broken setup, and t.Skip elsewhere.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if inCI() {
		t.Fatalf("vaulttest: Vault dev server unavailable (CI is set, so this is a failure): %v", err)
	}
	t.Skipf("vaulttest: skipping, Vault dev server unavailable (set CI=true to fail instead): %v", err)
}

// inCI reports whether the CI environment variable holds a true value
// ("true", "1" and the other forms strconv.ParseBool accepts).
func inCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}
