package vaulttest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// requestTimeout bounds each request the helpers send.
const requestTimeout = 30 * time.Second

// approleMount is the path where EnableAppRole mounts the AppRole auth method.
const approleMount = "approle"

// Client returns a client for the server that uses the root token. Its
// configuration is built here, not from VAULT_* variables: it has no proxy
// and no retries, so a failing request fails at once, and TLS only for a
// server from StartTLS, trusting CACert.
//
// NOTE: api.NewClient (vault/api v1.23.0) still parses the VAULT_* variables
// and returns an error if one is malformed, for example VAULT_MAX_RETRIES=x.
// Their values are not used, because the token and headers that NewClient
// takes from VAULT_TOKEN, VAULT_NAMESPACE and VAULT_HEADERS are replaced.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	client, transport, err := s.newClient(s.RootToken)
	if err != nil {
		t.Fatalf("vaulttest: creating a Vault client for %s: %v", s.Addr, err)
	}
	t.Cleanup(transport.CloseIdleConnections)
	return client
}

func (s *Server) newClient(token string) (*api.Client, *http.Transport, error) {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	config := &api.Config{
		Address:    s.Addr,
		HttpClient: &http.Client{Transport: transport},
		Timeout:    requestTimeout,
		MaxRetries: 0,
	}
	if s.CACert != "" {
		pool, err := loadCA(s.CACert)
		if err != nil {
			return nil, nil, err
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client, err := api.NewClient(config)
	if err != nil {
		return nil, nil, err
	}
	client.SetToken(token)
	client.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	return client, transport, nil
}

// WriteKV2 writes data as a new version of the KV v2 secret at path in the
// engine mounted at mount ("secret" exists in dev mode). Values are sent as
// JSON, with json.Number values written digit for digit.
//
// NOTE: the KV v2 engine of Vault 1.13 stores numbers as float64, so an
// integer beyond 2^53 reads back rounded (12345678901234567890 becomes
// 12345678901234567000). KV v1 keeps the digits, so use WriteKV1 or a string
// for such values.
func (s *Server) WriteKV2(t testing.TB, mount, path string, data map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if _, err := s.Client(t).KVv2(mount).Put(ctx, path, data); err != nil {
		t.Fatalf("vaulttest: writing KV v2 secret %q in mount %q: %v", path, mount, err)
	}
}

// WriteKV1 writes data to the KV v1 secret at path in the engine mounted at
// mount, replacing what was there. See EnableKV to mount a KV v1 engine.
// Values are sent as JSON, so use json.Number for exact digits.
func (s *Server) WriteKV1(t testing.TB, mount, path string, data map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := s.Client(t).KVv1(mount).Put(ctx, path, data); err != nil {
		t.Fatalf("vaulttest: writing KV v1 secret %q in mount %q: %v", path, mount, err)
	}
}

// EnableKV mounts a KV secrets engine of version 1 or 2 at mount. For version
// 2 it waits until the engine accepts requests, because Vault sets up a new
// KV v2 mount in the background.
func (s *Server) EnableKV(t testing.TB, mount string, version int) {
	t.Helper()
	if version != 1 && version != 2 {
		t.Fatalf("vaulttest: EnableKV(%q): invalid KV version %d, expected 1 or 2", mount, version)
	}
	client := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()

	input := &api.MountInput{
		Type:    "kv",
		Options: map[string]string{"version": strconv.Itoa(version)},
	}
	if err := client.Sys().MountWithContext(ctx, mount, input); err != nil {
		t.Fatalf("vaulttest: mounting KV v%d at %q: %v", version, mount, err)
	}
	if version == 2 {
		if err := waitKV2Ready(ctx, client, mount); err != nil {
			t.Fatalf("vaulttest: KV v2 mount %q: %v", mount, err)
		}
	}
}

// waitKV2Ready polls the mount's config endpoint, which returns an error
// until the new KV v2 engine has finished its setup.
func waitKV2Ready(ctx context.Context, client *api.Client, mount string) error {
	for {
		_, err := client.Logical().ReadWithContext(ctx, mount+"/config")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready before the timeout: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CreateToken creates a token with the given policies and TTL (a Vault
// duration such as "10m"; empty means the default TTL) and returns it. The
// token is a child of the root token, so with no policies it gets the root
// policy.
func (s *Server) CreateToken(t testing.TB, policies []string, ttl string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	secret, err := s.Client(t).Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{
		Policies: policies,
		TTL:      ttl,
	})
	if err != nil {
		t.Fatalf("vaulttest: creating a token with policies %q and TTL %q: %v", policies, ttl, err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		t.Fatalf("vaulttest: creating a token with policies %q: response has no client token", policies)
	}
	return secret.Auth.ClientToken
}

// WritePolicy creates or replaces the ACL policy name with the HCL rules.
func (s *Server) WritePolicy(t testing.TB, name, hcl string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := s.Client(t).Sys().PutPolicyWithContext(ctx, name, hcl); err != nil {
		t.Fatalf("vaulttest: writing policy %q: %v", name, err)
	}
}

// EnableAppRole mounts the AppRole auth method at "approle" unless it is
// mounted already, creates or replaces role with the given token policies,
// and returns the role's role ID and a new secret ID.
func (s *Server) EnableAppRole(t testing.TB, role string, policies []string) (roleID, secretID string) {
	t.Helper()
	client := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()

	if err := s.mountAppRole(ctx, client); err != nil {
		t.Fatalf("vaulttest: mounting the AppRole auth method at %q: %v", approleMount, err)
	}

	rolePath := "auth/" + approleMount + "/role/" + role
	if _, err := client.Logical().WriteWithContext(ctx, rolePath, map[string]any{
		"token_policies": policies,
	}); err != nil {
		t.Fatalf("vaulttest: writing AppRole role %q: %v", role, err)
	}

	secret, err := client.Logical().ReadWithContext(ctx, rolePath+"/role-id")
	if err != nil {
		t.Fatalf("vaulttest: reading the role ID of AppRole role %q: %v", role, err)
	}
	roleID, ok := stringField(secret, "role_id")
	if !ok {
		t.Fatalf("vaulttest: reading the role ID of AppRole role %q: response has no role_id", role)
	}

	secret, err = client.Logical().WriteWithContext(ctx, rolePath+"/secret-id", nil)
	if err != nil {
		t.Fatalf("vaulttest: creating a secret ID for AppRole role %q: %v", role, err)
	}
	secretID, ok = stringField(secret, "secret_id")
	if !ok {
		t.Fatalf("vaulttest: creating a secret ID for AppRole role %q: response has no secret_id", role)
	}
	return roleID, secretID
}

// EnableAppRoleTTL is EnableAppRole for a role whose tokens live for ttl
// and can be renewed up to maxTTL after login (Vault durations such as
// "2s"), so that a test can see a token reach its max TTL.
func (s *Server) EnableAppRoleTTL(t testing.TB, role string, policies []string, ttl, maxTTL string) (roleID, secretID string) {
	t.Helper()
	roleID, secretID = s.EnableAppRole(t, role, policies)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	// A write to an existing role changes only the fields it sends.
	if _, err := s.Client(t).Logical().WriteWithContext(ctx, "auth/"+approleMount+"/role/"+role, map[string]any{
		"token_ttl":     ttl,
		"token_max_ttl": maxTTL,
	}); err != nil {
		t.Fatalf("vaulttest: setting token_ttl %q and token_max_ttl %q on AppRole role %q: %v", ttl, maxTTL, role, err)
	}
	return roleID, secretID
}

// mountAppRole checks the auth mounts on every call instead of remembering
// an earlier mount, because Restart loses all mounts.
func (s *Server) mountAppRole(ctx context.Context, client *api.Client) error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()

	mounts, err := client.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return err
	}
	if _, ok := mounts[approleMount+"/"]; ok {
		return nil
	}
	return client.Sys().EnableAuthWithOptionsWithContext(ctx, approleMount, &api.EnableAuthOptions{Type: "approle"})
}

// EnableAuth mounts the auth method of type methodType (such as "jwt" or
// "userpass") at mount unless a method is mounted there already. A mount
// of another type at the path fails the test, since the caller's setup
// would not apply to it.
func (s *Server) EnableAuth(t testing.TB, mount, methodType string) {
	t.Helper()
	client := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()

	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	mounts, err := client.Sys().ListAuthWithContext(ctx)
	if err != nil {
		t.Fatalf("vaulttest: listing the auth mounts: %v", err)
	}
	if existing, ok := mounts[mount+"/"]; ok {
		if existing.Type != methodType {
			t.Fatalf("vaulttest: auth mount %q has type %q, expected %q", mount, existing.Type, methodType)
		}
		return
	}
	if err := client.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &api.EnableAuthOptions{Type: methodType}); err != nil {
		t.Fatalf("vaulttest: mounting the %s auth method at %q: %v", methodType, mount, err)
	}
}

func stringField(secret *api.Secret, name string) (string, bool) {
	if secret == nil || secret.Data == nil {
		return "", false
	}
	value, ok := secret.Data[name].(string)
	return value, ok && value != ""
}

// CreateTokenWithID creates a root-policy token whose value is id, so that
// two dev servers accept the same token, as the nodes of a cluster do.
func (s *Server) CreateTokenWithID(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := s.Client(t).Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{ID: id, TTL: "1h"})
	if err != nil {
		t.Fatalf("vaulttest: creating a token with a given id: %v", err)
	}
}
