package main_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// recordedRequest is one request that passed through the recording proxy.
type recordedRequest struct {
	path, namespace string
	hasNamespace    bool
}

// recordingProxy forwards to the dev server and records the path and the
// X-Vault-Namespace header of each request. Vault's open-source server
// ignores the header, so the same secrets are returned in every namespace.
func recordingProxy(t *testing.T, s *vaulttest.Server) (string, func() []recordedRequest) {
	t.Helper()
	target, err := url.Parse(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []recordedRequest
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, ok := r.Header["X-Vault-Namespace"]
		rec := recordedRequest{path: r.URL.Path, hasNamespace: ok}
		if ok {
			rec.namespace = strings.Join(values, ",")
		}
		mu.Lock()
		seen = append(seen, rec)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL, func() []recordedRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]recordedRequest(nil), seen...)
	}
}

func TestNamespaceHeaders(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "ns/app", map[string]any{"v": "ns-value"})
	s.WritePolicy(t, "ns-read", `path "secret/data/ns/*" { capabilities = ["read"] }`)
	roleID, secretID := s.EnableAppRole(t, "ns-role", []string{"ns-read"})
	address, requests := recordingProxy(t, s)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: `+address+`
  token: ${VAULT_TOKEN}
  namespace: team-a
  credentials:
    team-c:
      authMethod: approle
      roleId: `+roleID+`
      secretId: ${SECRET_ID}
      namespace: team-c
secrets:
  - {name: store-namespace, key: ns/app, files: [{path: out/a, field: v}]}
  - {name: own-namespace, key: ns/app, namespace: team-b, files: [{path: out/b, field: v}]}
  - {name: root-namespace, key: ns/app, namespace: "", files: [{path: out/root, field: v}]}
  - {name: set-namespace, key: ns/app, credentials: team-c, files: [{path: out/c, field: v}]}
`)
	res := run(t, dir, []string{"VAULT_TOKEN=" + s.RootToken, "SECRET_ID=" + secretID}, "sync", "--once", "-c", cfg)
	expectCode(t, res, 0)
	for _, name := range []string{"a", "b", "root", "c"} {
		if got := readFile(t, filepath.Join(dir, "out", name)); got != "ns-value" {
			t.Errorf("out/%s = %q", name, got)
		}
	}

	want := map[string]string{
		"/v1/auth/token/lookup-self": "team-a",
		"/v1/auth/approle/login":     "team-c",
		"/v1/auth/token/revoke-self": "team-c",
	}
	readNamespaces := map[string]bool{}
	for _, r := range requests() {
		if strings.Contains(r.path, "team-") {
			t.Errorf("namespace sent as a path prefix: %s", r.path)
		}
		if ns, ok := want[r.path]; ok {
			if r.namespace != ns {
				t.Errorf("%s sent namespace %q, want %q", r.path, r.namespace, ns)
			}
			continue
		}
		if r.path == "/v1/secret/data/ns/app" {
			if r.namespace == "" && r.hasNamespace {
				t.Errorf("root read sent an empty X-Vault-Namespace header")
			}
			readNamespaces[r.namespace] = true
		}
	}
	for _, ns := range []string{"team-a", "team-b", "", "team-c"} {
		if !readNamespaces[ns] {
			t.Errorf("no read in namespace %q; reads seen in %v", ns, readNamespaces)
		}
	}
}
