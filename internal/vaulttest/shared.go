package vaulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var shared struct {
	sync.Mutex
	mainCalled bool
	started    bool
	server     *Server
	dir        string
	err        error
}

// Main runs the tests of a package that uses Shared and stops the shared
// server afterwards. Call it from the package's TestMain:
//
//	func TestMain(m *testing.M) { vaulttest.Main(m) }
func Main(m *testing.M) {
	shared.Lock()
	shared.mainCalled = true
	shared.Unlock()

	code := m.Run()

	shared.Lock()
	if shared.server != nil {
		shared.server.stop()
	}
	if shared.dir != "" {
		if err := os.RemoveAll(shared.dir); err != nil {
			fmt.Fprintf(os.Stderr, "vaulttest: removing %s: %v\n", shared.dir, err)
		}
	}
	shared.Unlock()

	os.Exit(code)
}

// Shared returns one dev server for all tests of the test binary, started on
// the first call. Tests that use it must write to paths, mounts and names
// that no other test uses, and must not stop or restart it. The server's log
// is printed when a test that called Shared fails. Shared fails the test if
// the package's TestMain does not call Main, which stops the server at exit.
// A server that cannot start is reported once and then skips (or, in CI,
// fails) every test that calls Shared.
func Shared(t testing.TB) *Server {
	t.Helper()

	shared.Lock()
	if !shared.mainCalled {
		shared.Unlock()
		t.Fatal("vaulttest: Shared needs the package's TestMain to call vaulttest.Main(m), which stops the shared server")
	}
	if !shared.started {
		shared.started = true
		shared.server, shared.dir, shared.err = startShared()
	}
	s, err := shared.server, shared.err
	shared.Unlock()

	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.printLog(t)
		}
	})
	return s
}

// startShared starts the shared server in a temporary folder that Main
// removes, because no single test's t.TempDir() lives long enough.
func startShared() (*Server, string, error) {
	dir, err := os.MkdirTemp("", "vaulttest-shared-")
	if err != nil {
		return nil, "", fmt.Errorf("creating a folder for the shared server: %w", err)
	}
	s := &Server{
		home:    filepath.Join(dir, "home"),
		logPath: filepath.Join(dir, "vault.log"),
		shared:  true,
	}
	if err := s.init(); err != nil {
		return nil, dir, err
	}
	return s, dir, nil
}
