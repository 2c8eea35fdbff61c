package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// recordedRequest is one request that the fake server received.
type recordedRequest struct {
	method, path, namespace string
	body                    map[string]any
}

// leaseServer is a fake server with a leased GET path, a PUT path that
// returns a certificate-like response, a path that returns no data, and
// sys/leases/renew.
type leaseServer struct {
	mu       sync.Mutex
	requests []recordedRequest
	grant    int // seconds that the next renewal grants
}

func (f *leaseServer) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if data, _ := io.ReadAll(r.Body); len(data) > 0 {
		_ = json.Unmarshal(data, &body)
	}
	f.mu.Lock()
	f.requests = append(f.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Get("X-Vault-Namespace"), body})
	grant := f.grant
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/database/creds/app":
		fmt.Fprint(w, `{"lease_id":"database/creds/app/Xyz123","lease_duration":4,"renewable":true,"data":{"username":"v-app-1","password":"pw-1"}}`)
	case "/v1/pki/issue/web":
		fmt.Fprint(w, `{"lease_id":"","lease_duration":0,"renewable":false,"data":{"certificate":"CERT","private_key":"KEY"}}`)
	case "/v1/sys/nothing":
		w.WriteHeader(http.StatusNoContent)
	case "/v1/sys/leases/renew":
		fmt.Fprintf(w, `{"lease_id":%q,"lease_duration":%d,"renewable":true}`, body["lease_id"], grant)
	case "/v1/auth/token/revoke-self":
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[]}`)
	}
}

func (f *leaseServer) sent() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

// testSession returns a session that logged in, with a token that expires
// in an hour, to a fake leaseServer.
func testSession(t *testing.T) (*Session, *leaseServer) {
	t.Helper()
	f := &leaseServer{grant: 4}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	client, err := NewClient(config.Store{Addresses: []string{srv.URL}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	s := &Session{client: client, token: "test-token", loggedIn: true}
	s.info = TokenInfo{TTL: time.Hour, Renewable: true, Increment: time.Hour, Checked: time.Now()}
	return s, f
}

func TestGenericPath(t *testing.T) {
	cases := []struct{ mount, path, want string }{
		{"pki", "issue/web", "pki/issue/web"},
		{"/pki/", "/issue/web/", "pki/issue/web"},
		{"", "pki/issue/web", "pki/issue/web"},
		{"secret", "data/app", "secret/data/app"},
		{"database", "creds/app", "database/creds/app"},
	}
	for _, c := range cases {
		if got := GenericPath(c.mount, c.path); got != c.want {
			t.Errorf("GenericPath(%q, %q) = %q, want %q", c.mount, c.path, got, c.want)
		}
	}
}

func TestReadGenericLease(t *testing.T) {
	s, f := testSession(t)
	secret, err := s.Read(context.Background(), Request{Mount: "database", Path: "creds/app", Engine: config.EngineGeneric, Method: config.MethodRead})
	if err != nil {
		t.Fatal(err)
	}
	if secret.Data["username"] != "v-app-1" {
		t.Errorf("data = %v, want the response's data", secret.Data)
	}
	l := secret.Lease
	if l == nil {
		t.Fatal("lease = nil, want the response's lease")
	}
	if l.ID != "database/creds/app/Xyz123" || l.Duration != 4*time.Second || !l.Renewable {
		t.Errorf("lease = %+v, want id database/creds/app/Xyz123, 4s, renewable", l)
	}
	if l.Path() != "database/creds/app" {
		t.Errorf("Path() = %q, want database/creds/app", l.Path())
	}
	if l.TokenExpires.IsZero() {
		t.Error("TokenExpires is zero for a token with a TTL")
	}
	if got := f.sent()[0]; got.method != http.MethodGet || got.path != "/v1/database/creds/app" {
		t.Errorf("request = %s %s, want GET /v1/database/creds/app", got.method, got.path)
	}
	if !s.HasLeases() {
		t.Error("HasLeases() = false after a leased read")
	}
}

func TestReadGenericWriteSendsData(t *testing.T) {
	s, f := testSession(t)
	req := Request{Mount: "", Path: "pki/issue/web", Namespace: "team-a", Engine: config.EngineGeneric, Method: config.MethodWrite,
		Data: map[string]any{"common_name": "web.example.com", "alt_names": []string{"a.example.com", "b.example.com"}}}
	secret, err := s.Read(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if secret.Lease != nil {
		t.Errorf("lease = %+v, want nil for a response without a lease id", secret.Lease)
	}
	if s.HasLeases() {
		t.Error("HasLeases() = true without a leased read")
	}
	got := f.sent()[0]
	if got.method != http.MethodPut || got.path != "/v1/pki/issue/web" {
		t.Errorf("request = %s %s, want PUT /v1/pki/issue/web", got.method, got.path)
	}
	if got.namespace != "team-a" {
		t.Errorf("namespace header = %q, want team-a", got.namespace)
	}
	if got.body["common_name"] != "web.example.com" {
		t.Errorf("body = %v, want common_name", got.body)
	}
	if names, _ := got.body["alt_names"].([]any); len(names) != 2 {
		t.Errorf("alt_names = %v, want a JSON list of two", got.body["alt_names"])
	}
}

func TestReadGenericWithoutData(t *testing.T) {
	s, _ := testSession(t)
	_, err := s.Read(context.Background(), Request{Path: "sys/nothing", Engine: config.EngineGeneric, Method: config.MethodWrite})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNotFound {
		t.Fatalf("err = %v, want a not-found error", err)
	}
	if !strings.Contains(err.Error(), "no data") {
		t.Errorf("err = %q, want it to say the response has no data", err)
	}
}

func TestReadGenericNotFoundHint(t *testing.T) {
	s, _ := testSession(t)
	_, err := s.Read(context.Background(), Request{Mount: "pki", Path: "issue/missing", Engine: config.EngineGeneric})
	if err == nil || !strings.Contains(err.Error(), "no data/ segment added") {
		t.Errorf("err = %v, want the engine generic hint", err)
	}
}

func TestRenewLease(t *testing.T) {
	s, f := testSession(t)
	secret, err := s.Read(context.Background(), Request{Mount: "database", Path: "creds/app", Engine: config.EngineGeneric})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.grant = 2
	f.mu.Unlock()
	renewed, err := s.RenewLease(context.Background(), *secret.Lease, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Duration != 2*time.Second {
		t.Errorf("granted %v, want the server's 2s", renewed.Duration)
	}
	if !renewed.Received.After(secret.Lease.Received) {
		t.Error("Received did not move forward")
	}
	req := f.sent()[1]
	if req.path != "/v1/sys/leases/renew" || req.body["lease_id"] != "database/creds/app/Xyz123" {
		t.Errorf("request = %s %v, want sys/leases/renew of the lease", req.path, req.body)
	}
	if inc, _ := req.body["increment"].(float64); inc != 4 {
		t.Errorf("increment = %v, want 4 (seconds)", req.body["increment"])
	}
}

func TestRenewLeaseOfOtherSession(t *testing.T) {
	s, _ := testSession(t)
	secret, err := s.Read(context.Background(), Request{Mount: "database", Path: "creds/app", Engine: config.EngineGeneric})
	if err != nil {
		t.Fatal(err)
	}
	other := &Session{client: s.client, token: "other-token", loggedIn: true}
	if _, err := other.RenewLease(context.Background(), *secret.Lease, time.Minute); !errors.Is(err, ErrLeaseOfOtherToken) {
		t.Errorf("err = %v, want ErrLeaseOfOtherToken", err)
	}
}

func TestRevokeKeepsTokenWithLeases(t *testing.T) {
	s, f := testSession(t)
	if _, err := s.Read(context.Background(), Request{Mount: "database", Path: "creds/app", Engine: config.EngineGeneric}); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.sent() {
		if r.path == "/v1/auth/token/revoke-self" {
			t.Error("the token that obtained a lease was revoked, which would revoke the lease")
		}
	}
}

func TestRevokeTokenWithoutLeases(t *testing.T) {
	s, f := testSession(t)
	if err := s.Revoke(context.Background()); err != nil {
		t.Fatal(err)
	}
	revoked := false
	for _, r := range f.sent() {
		revoked = revoked || r.path == "/v1/auth/token/revoke-self"
	}
	if !revoked {
		t.Error("a logged-in token without leases was not revoked")
	}
}
