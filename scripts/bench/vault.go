package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// readPolicy lets a token read the seeded secrets and nothing else. Every
// tool reads with a token of this policy unless -token root is given,
// because Vault skips the ACL check for root and real clients seldom have
// it.
const readPolicy = `path "secret/data/bench/*" { capabilities = ["read"] }`

// devServer is a Vault dev server on 127.0.0.1, started by the benchmark.
type devServer struct {
	cmd       *exec.Cmd
	addr      string // http://127.0.0.1:PORT
	rootToken string
	client    *http.Client
	exited    chan struct{}
}

// startDevServer starts `vault server -dev` on a free loopback port with an
// empty environment apart from PATH and a HOME under workDir, so the
// caller's VAULT_* settings and ~/.vault-token play no part. It retries with
// a new port when the server exits before it becomes ready, which happens
// when another process took the port in between.
func startDevServer(ctx context.Context, vaultBin, workDir string) (*devServer, error) {
	home := filepath.Join(workDir, "vault-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		s, err := tryStartDevServer(ctx, vaultBin, home, filepath.Join(workDir, "vault.log"))
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStartDevServer(ctx context.Context, vaultBin, home, logPath string) (*devServer, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	token := "bench-root-" + randomHex(8)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(vaultBin, "server", "-dev",
		"-dev-root-token-id="+token,
		"-dev-listen-address="+listen,
		"-dev-no-store-token",
		"-log-level=warn")
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", vaultBin, err)
	}
	s := &devServer{
		cmd:       cmd,
		addr:      "http://" + listen,
		rootToken: token,
		client:    newLoopbackClient(32),
		exited:    make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("the Vault dev server exited during start-up; see %s", logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if s.healthy(ctx) {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("the Vault dev server on %s was not ready after 60s; see %s", listen, logPath)
}

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *devServer) healthy(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addr+"/v1/sys/health", nil)
	if err != nil {
		return false
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM, then SIGKILL after 10 seconds, and waits for the exit.
func (s *devServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// call sends one JSON request with the root token and decodes the response
// into out when out is not nil.
func (s *devServer) call(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(encoded)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.addr+"/v1/"+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", s.rootToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(payload))
	}
	if out == nil || len(payload) == 0 {
		return nil
	}
	return json.Unmarshal(payload, out)
}

// createReadToken writes readPolicy and returns a new token that has it.
func (s *devServer) createReadToken(ctx context.Context) (string, error) {
	if err := s.call(ctx, http.MethodPut, "sys/policies/acl/bench-read", map[string]string{"policy": readPolicy}, nil); err != nil {
		return "", err
	}
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	body := map[string]any{"policies": []string{"bench-read"}, "ttl": "24h", "display_name": "bench"}
	if err := s.call(ctx, http.MethodPost, "auth/token/create", body, &created); err != nil {
		return "", err
	}
	if created.Auth.ClientToken == "" {
		return "", errors.New("auth/token/create returned no token")
	}
	return created.Auth.ClientToken, nil
}

// secretPath is the KV v2 API path of seeded secret i under the mount.
func secretPath(i int) string {
	return "secret/data/bench/s" + strconv.Itoa(i)
}

// seed writes n KV v2 secrets bench/s0 ... bench/s(n-1) with `workers`
// writes in flight, and returns each secret's password field.
func (s *devServer) seed(ctx context.Context, n, workers int) ([]string, error) {
	passwords := make([]string, n)
	for i := range passwords {
		passwords[i] = "pw-" + strconv.Itoa(i) + "-" + randomHex(12)
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				body := map[string]any{"data": map[string]string{"username": "user" + strconv.Itoa(i), "password": passwords[i]}}
				if err := s.call(ctx, http.MethodPut, secretPath(i), body, nil); err != nil {
					errs <- fmt.Errorf("seed %s: %w", secretPath(i), err)
					return
				}
			}
		}()
	}
	var seedErr error
feed:
	for i := range n {
		select {
		case jobs <- i:
		case seedErr = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if seedErr == nil {
		seedErr = <-errs
	}
	return passwords, seedErr
}

func randomHex(bytes int) string {
	b := make([]byte, bytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newLoopbackClient returns a client that keeps up to conns idle
// connections open to one host.
func newLoopbackClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}}
}
