package main_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

func TestSyncOnceFailsOverToNextAddress(t *testing.T) {
	first := vaulttest.Start(t)
	second := vaulttest.Start(t)
	for _, s := range []*vaulttest.Server{first, second} {
		s.WriteKV2(t, "secret", "failover/app", map[string]any{"v": "from-" + s.Addr})
	}
	// Both dev servers accept the same token, as a cluster's nodes do.
	token := "failover-test-token"
	first.CreateTokenWithID(t, token)
	second.CreateTokenWithID(t, token)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: [`+first.Addr+`, `+second.Addr+`]
secrets:
  - {name: app, key: failover/app, files: [{path: out/v, field: v}]}
`)
	env := []string{"VAULT_TOKEN=" + token}

	res := run(t, dir, env, "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	if got := readFile(t, filepath.Join(dir, "out/v")); got != "from-"+first.Addr {
		t.Errorf("with both up, file = %q, want the first server's value", got)
	}

	first.Stop()
	res = run(t, dir, env, "sync", "--once", "-c", cfg, "--log-format", "json")
	expectCode(t, res, 0)
	if got := readFile(t, filepath.Join(dir, "out/v")); got != "from-"+second.Addr {
		t.Errorf("with the first down, file = %q, want the second server's value", got)
	}
	if n := strings.Count(res.stderr, `"msg":"switched server"`); n != 1 {
		t.Errorf("switch logged %d times, want once:\n%s", n, res.stderr)
	}
	if !strings.Contains(res.stderr, first.Addr) || !strings.Contains(res.stderr, second.Addr) {
		t.Errorf("switch line lacks both addresses:\n%s", res.stderr)
	}
}

func TestVaultAddrCommaList(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "commalist/app", map[string]any{"v": "listed"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secrets:
  - {name: app, key: commalist/app, files: [{path: out/v, field: v}]}
`)
	// The first address is a closed loopback port.
	env := []string{"VAULT_ADDR=http://127.0.0.1:9," + s.Addr, "VAULT_TOKEN=" + s.RootToken}
	res := run(t, dir, env, "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	if got := readFile(t, filepath.Join(dir, "out/v")); got != "listed" {
		t.Errorf("file = %q", got)
	}
}

func TestWatchFailsOverToSecondServer(t *testing.T) {
	first := vaulttest.Start(t)
	second := vaulttest.Start(t)
	token := "watch-failover-token"
	for _, s := range []*vaulttest.Server{first, second} {
		s.CreateTokenWithID(t, token)
		s.WriteKV2(t, "secret", "wfailover/app", map[string]any{"v": "value-1"})
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: [`+first.Addr+`, `+second.Addr+`]
defaults: {refreshInterval: 1s}
secrets:
  - {name: app, key: wfailover/app, files: [{path: out/v, field: v}]}
`)
	p := startWatch(t, dir, []string{"VAULT_TOKEN=" + token}, "watch", "-c", cfg)
	out := filepath.Join(dir, "out/v")
	waitFile(t, out, "value-1")
	p.waitReadiness(t, true)

	first.Stop()
	// Only the second server has the new value, so it can reach the file
	// only through the second server.
	second.WriteKV2(t, "secret", "wfailover/app", map[string]any{"v": "value-2"})
	waitFile(t, out, "value-2")
	if !p.running() {
		t.Fatalf("watch exited after the first server stopped")
	}
	p.waitLog(t, 1, "switched server", "from", first.Addr, "to", second.Addr)
	if n := len(p.logLines("switched server")); n != 1 {
		t.Errorf("switch logged %d times, want once", n)
	}
	p.waitReadiness(t, true)
	p.stop(t)
}
