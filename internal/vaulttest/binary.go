// Package vaulttest runs a real Vault dev server on loopback for tests.
//
// The server binary comes from scripts/vault-server.sh, which builds the
// release pinned in scripts/vaultserver and caches it outside the repository.
// Start gives a test its own server. Shared gives all tests of one test binary
// a single server, and needs the package's TestMain to call Main.
//
// When the binary cannot be built or the server cannot start, tests are
// skipped, unless the CI environment variable is true, where they fail.
package vaulttest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// BinaryEnv is the environment variable that names a Vault server binary to
// use instead of building one with scripts/vault-server.sh.
const BinaryEnv = "SECRETS_SYNC_VAULT_BIN"

const modulePath = "github.com/secrets-sync/secrets-sync"

var binaryCache struct {
	sync.Mutex
	done bool
	path string
	err  error
}

// Binary returns the path of the Vault server binary: $SECRETS_SYNC_VAULT_BIN
// if it is set, else the path that scripts/vault-server.sh prints after it
// builds or finds the cached binary. The script runs at most once per test
// binary, and its result, including a failure, is reused.
func Binary() (string, error) {
	if path := os.Getenv(BinaryEnv); path != "" {
		if err := checkExecutable(path); err != nil {
			return "", fmt.Errorf("%s: %w", BinaryEnv, err)
		}
		return path, nil
	}

	binaryCache.Lock()
	defer binaryCache.Unlock()
	if !binaryCache.done {
		binaryCache.path, binaryCache.err = buildBinary()
		binaryCache.done = true
	}
	return binaryCache.path, binaryCache.err
}

func buildBinary() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "vault-server.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("Vault build script not found: %w", err)
	}

	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	cmd := exec.Command("bash", script)
	cmd.Dir = root
	cmd.Stdout = &stdout
	// The first build takes minutes, so its progress also goes to the test
	// binary's stderr, where a developer running go test -v can watch it.
	cmd.Stderr = io.MultiWriter(os.Stderr, stderr)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s failed: %w; its last output:\n%s", script, err, stderr.String())
	}

	path := strings.TrimSpace(stdout.String())
	if path == "" {
		return "", fmt.Errorf("%s printed no binary path", script)
	}
	if err := checkExecutable(path); err != nil {
		return "", fmt.Errorf("%s printed %q: %w", script, path, err)
	}
	return path, nil
}

// moduleRoot finds the root of the secrets-sync module from the path of this
// source file, which is absolute unless the test binary was built with
// -trimpath. Otherwise it walks up from the working directory, which go test
// sets to the package folder.
func moduleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
		if isModuleRoot(root) {
			return root, nil
		}
	}

	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module %s not found above %s; set %s to a Vault server binary", modulePath, dir, BinaryEnv)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == modulePath {
			return true
		}
	}
	return false
}

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory, not a Vault binary", path)
	}
	if info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	data []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	if extra := len(b.data) - b.max; extra > 0 {
		b.data = b.data[extra:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.data)
}
