package main_test

import (
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// tlsFront puts a TLS listener on loopback in front of the dev server and
// writes its CA certificate to a file. The certificate is valid for
// 127.0.0.1 and example.com.
func tlsFront(t *testing.T, s *vaulttest.Server, dir string) (address, caFile string) {
	t.Helper()
	target, err := url.Parse(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(front.Close)
	caFile = filepath.Join(dir, "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	if err := os.WriteFile(caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return front.URL, caFile
}

func TestSyncOnceOverTLS(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "tls/app", map[string]any{"v": "over-tls"})
	dir := t.TempDir()
	address, caFile := tlsFront(t, s, dir)
	config := func(extra string) string {
		return `
secretStore:
  address: ` + address + `
` + extra + `
secrets:
  - {name: app, key: tls/app, files: [{path: out/v, field: v}]}
`
	}
	token := "VAULT_TOKEN=" + s.RootToken
	cases := []struct {
		name   string
		store  string
		env    []string
		code   int
		stderr string
	}{
		{name: "unknown CA", code: 3, stderr: "TLS with " + address + " failed"},
		{name: "tlsCACert", store: "  tlsCACert: " + caFile, code: 0},
		{name: "VAULT_CACERT", env: []string{"VAULT_CACERT=" + caFile}, code: 0},
		{name: "BAO_CACERT", env: []string{"BAO_CACERT=" + caFile}, code: 0},
		{name: "tlsSkipVerify", store: "  tlsSkipVerify: true", code: 0, stderr: "not verified"},
		{name: "VAULT_SKIP_VERIFY", env: []string{"VAULT_SKIP_VERIFY=true"}, code: 0, stderr: "not verified"},
		{name: "server name matches", store: "  tlsCACert: " + caFile + "\n  tlsServerName: example.com", code: 0},
		{name: "server name differs", store: "  tlsCACert: " + caFile + "\n  tlsServerName: other.invalid", code: 3, stderr: "other.invalid"},
		{name: "file wins over VAULT_SKIP_VERIFY", store: "  tlsSkipVerify: false", env: []string{"VAULT_SKIP_VERIFY=true"}, code: 3, stderr: "TLS with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			cfg := writeConfig(t, work, config(c.store))
			res := run(t, work, append([]string{token}, c.env...), "sync", "--once", "-c", cfg, "--timeout", "5s")
			expectCode(t, res, c.code)
			if c.stderr != "" && !strings.Contains(res.stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, res.stderr)
			}
			if c.code == 0 {
				if got := readFile(t, filepath.Join(work, "out/v")); got != "over-tls" {
					t.Errorf("file = %q", got)
				}
			}
		})
	}
}
