package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// The tests of this file log in with each auth method against the dev
// server. Each checks that the secret lands in its file and that sync
// --once revokes its token when it exits. Each also checks that no
// credential appears in the debug log, the output or the status file.

// syncDebug runs sync --once at debug level with a status file, and
// returns the result with the status file's content appended to stdout,
// so one leak check covers all three.
func syncDebug(t *testing.T, dir string, env []string, cfg string) result {
	t.Helper()
	status := filepath.Join(dir, "status.json")
	res := run(t, dir, env, "sync", "--once", "-c", cfg, "--log-level", "debug", "--status-file", status)
	if data, err := os.ReadFile(status); err == nil {
		res.stdout += string(data)
	}
	return res
}

// expectHidden fails when the output of res contains any of values.
func expectHidden(t *testing.T, res result, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(res.stderr+res.stdout, v) {
			t.Errorf("the output contains the credential or secret %q:\nstdout:\n%s\nstderr:\n%s", v, res.stdout, res.stderr)
		}
	}
}

// syncWithLogin runs sync --once with cfg in dir and checks that it exits 0,
// writes want to out/v, revokes its login token, and shows neither want nor
// any of hidden. spent is the number of other tokens that the login uses up,
// such as a wrapping token. It returns the result for further checks.
func syncWithLogin(t *testing.T, s *vaulttest.Server, dir string, env []string, cfg, want string, spent int, hidden ...string) result {
	t.Helper()
	before := tokenCount(t, s)
	res := syncDebug(t, dir, env, cfg)
	expectCode(t, res, 0)
	if got := readFile(t, filepath.Join(dir, "out/v")); got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if after := tokenCount(t, s); after != before-spent {
		t.Errorf("tokens before %d, after %d, want %d: the login token was not revoked", before, after, before-spent)
	}
	expectHidden(t, res, append(hidden, want)...)
	return res
}

// expectStderr fails unless the standard error of res contains want.
func expectStderr(t *testing.T, res result, want string) {
	t.Helper()
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
}

// writeSecretFile writes value to name in dir with mode 0600 and returns
// its path.
func writeSecretFile(t *testing.T, dir, name, value string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// publicKeyPEM returns the PKIX PEM form of the public half of key, as
// jwt_validation_pubkeys takes it.
func publicKeyPEM(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// signES256 returns claims as a compact JWS signed with ES256 (RFC 7518,
// section 3.4): the signature is r and s, each as 32 big-endian bytes.
func signES256(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	encode := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(data)
	}
	signingInput := encode(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + encode(claims)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	signature := make([]byte, 64)
	r.FillBytes(signature[:32])
	s.FillBytes(signature[32:])
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(signature)
}

// writeAuthConfig writes data to path, such as a method's config or
// role, with the root token.
func writeAuthConfig(t *testing.T, s *vaulttest.Server, path string, data map[string]any) {
	t.Helper()
	if _, err := s.Client(t).Logical().Write(path, data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// ciJWTClaims returns the claims of a CI job's OIDC token for audience.
func ciJWTClaims(audience string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "secrets-sync-test-ci",
		"sub": "repo:example/app:ref:main",
		"aud": audience,
		"iat": now.Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
}

func TestJWTLogin(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "authjwt/app", map[string]any{"v": "jwt-secret-value"})
	s.WritePolicy(t, "authjwt-read", `path "secret/data/authjwt/*" { capabilities = ["read"] }`)
	key := newECKey(t)
	s.EnableAuth(t, "jwt", "jwt")
	writeAuthConfig(t, s, "auth/jwt/config", map[string]any{
		"jwt_validation_pubkeys": []string{publicKeyPEM(t, key)},
		"jwt_supported_algs":     []string{"ES256"},
		"bound_issuer":           "secrets-sync-test-ci",
	})
	writeAuthConfig(t, s, "auth/jwt/role/ci", map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{"secrets-sync"},
		"user_claim":      "sub",
		"token_policies":  []string{"authjwt-read"},
		"token_ttl":       "10m",
	})
	goodJWT := signES256(t, key, ciJWTClaims("secrets-sync"))
	wrongAudience := signES256(t, key, ciJWTClaims("another-service"))
	config := func(source string) string {
		return `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: jwt
  role: ci
  ` + source + `
secrets:
  - {name: app, key: authjwt/app, files: [{path: out/v, field: v}]}
`
	}

	t.Run("jwtFile", func(t *testing.T) {
		dir := t.TempDir()
		writeSecretFile(t, dir, "oidc-token", goodJWT)
		cfg := writeConfig(t, dir, config("jwtFile: oidc-token"))
		syncWithLogin(t, s, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg, "jwt-secret-value", 0, goodJWT)
	})
	t.Run("jwt from the environment", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, config("jwt: ${CI_JWT}"))
		syncWithLogin(t, s, dir, []string{"VAULT_ADDR=" + s.Addr, "CI_JWT=" + goodJWT}, cfg, "jwt-secret-value", 0, goodJWT)
	})
	t.Run("wrong audience", func(t *testing.T) {
		dir := t.TempDir()
		writeSecretFile(t, dir, "oidc-token", wrongAudience)
		cfg := writeConfig(t, dir, config("jwtFile: oidc-token"))
		res := syncDebug(t, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg)
		expectCode(t, res, 3)
		expectStderr(t, res, "log in with jwt at auth/jwt as role ci")
		expectStderr(t, res, "bound_audiences")
		expectHidden(t, res, wrongAudience, "jwt-secret-value")
	})
}

// tokenReviewer is a loopback stand-in for the Kubernetes TokenReview API
// that Vault's kubernetes auth method calls. It accepts the tokens in
// accepted as the service account apps/secrets-sync, and counts the
// reviews of each token.
type tokenReviewer struct {
	server *httptest.Server
	mu     sync.Mutex
	accept map[string]bool
	counts map[string]int
}

// Service account that tokenReviewer reports for an accepted token.
const (
	reviewNamespace = "apps"
	reviewAccount   = "secrets-sync"
	reviewUID       = "5b1c3c2e-0000-4000-8000-000000000001"
)

func newTokenReviewer(t *testing.T, accepted ...string) *tokenReviewer {
	t.Helper()
	tr := &tokenReviewer{accept: map[string]bool{}, counts: map[string]int{}}
	for _, token := range accepted {
		tr.accept[token] = true
	}
	tr.server = httptest.NewTLSServer(http.HandlerFunc(tr.review))
	t.Cleanup(tr.server.Close)
	return tr
}

func (tr *tokenReviewer) review(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var request struct {
		Spec struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&request); err != nil {
		http.Error(w, "invalid TokenReview", http.StatusBadRequest)
		return
	}
	tr.mu.Lock()
	tr.counts[request.Spec.Token]++
	accepted := tr.accept[request.Spec.Token]
	tr.mu.Unlock()

	status := map[string]any{"authenticated": false, "error": "the token is not known"}
	if accepted {
		status = map[string]any{
			"authenticated": true,
			"user": map[string]any{
				"username": "system:serviceaccount:" + reviewNamespace + ":" + reviewAccount,
				"uid":      reviewUID,
				"groups":   []string{"system:serviceaccounts", "system:serviceaccounts:" + reviewNamespace},
			},
			"audiences": request.Spec.Audiences,
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenReview",
		"status":     status,
	})
}

func (tr *tokenReviewer) reviews(token string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.counts[token]
}

// caPEM returns the PEM certificate of the reviewer's TLS listener.
func (tr *tokenReviewer) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tr.server.Certificate().Raw}))
}

// serviceAccountToken returns a JWT with the claims of a legacy service
// account token for apps/secrets-sync. Vault reads the claims without
// checking the signature, since no pem_keys are set, and the TokenReview
// decides.
func serviceAccountToken(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	return signES256(t, key, map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + reviewNamespace + ":" + reviewAccount,
		"kubernetes.io/serviceaccount/namespace": reviewNamespace,
		"kubernetes.io/serviceaccount/service-account.name": reviewAccount,
		"kubernetes.io/serviceaccount/service-account.uid":  reviewUID,
		"kubernetes.io/serviceaccount/secret.name":          reviewAccount + "-token-" + randomHex(t, 3),
	})
}

// enableKubernetes mounts the kubernetes method at mount, pointed at tr,
// with a role bound to the reviewer's service account.
func enableKubernetes(t *testing.T, s *vaulttest.Server, tr *tokenReviewer, mount, role string, policies []string, ttl, maxTTL string) {
	t.Helper()
	s.EnableAuth(t, mount, "kubernetes")
	writeAuthConfig(t, s, "auth/"+mount+"/config", map[string]any{
		"kubernetes_host":      tr.server.URL,
		"kubernetes_ca_cert":   tr.caPEM(),
		"disable_local_ca_jwt": true,
	})
	writeAuthConfig(t, s, "auth/"+mount+"/role/"+role, map[string]any{
		"bound_service_account_names":      []string{reviewAccount},
		"bound_service_account_namespaces": []string{reviewNamespace},
		"token_policies":                   policies,
		"token_ttl":                        ttl,
		"token_max_ttl":                    maxTTL,
	})
}

func TestKubernetesLogin(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "authk8s/app", map[string]any{"v": "k8s-secret-value"})
	s.WritePolicy(t, "authk8s-read", `path "secret/data/authk8s/*" { capabilities = ["read"] }`)
	key := newECKey(t)
	saToken := serviceAccountToken(t, key)
	unknownToken := serviceAccountToken(t, key)
	reviewer := newTokenReviewer(t, saToken)
	enableKubernetes(t, s, reviewer, "kubernetes", "sync", []string{"authk8s-read"}, "10m", "1h")
	const config = `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: kubernetes
  role: sync
  jwtFile: sa-token
secrets:
  - {name: app, key: authk8s/app, files: [{path: out/v, field: v}]}
`

	t.Run("service account token", func(t *testing.T) {
		dir := t.TempDir()
		writeSecretFile(t, dir, "sa-token", saToken)
		cfg := writeConfig(t, dir, config)
		syncWithLogin(t, s, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg, "k8s-secret-value", 0, saToken)
		if n := reviewer.reviews(saToken); n != 1 {
			t.Errorf("the token was reviewed %d times, want once", n)
		}
	})
	t.Run("token the cluster rejects", func(t *testing.T) {
		dir := t.TempDir()
		writeSecretFile(t, dir, "sa-token", unknownToken)
		cfg := writeConfig(t, dir, config)
		res := syncDebug(t, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg)
		expectCode(t, res, 3)
		expectStderr(t, res, "log in with kubernetes at auth/kubernetes as role sync")
		expectStderr(t, res, "binds this pod's service account")
		expectHidden(t, res, unknownToken, "k8s-secret-value")
	})
	t.Run("no token mounted", func(t *testing.T) {
		if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token"); err == nil {
			t.Skip("this machine has a service account token, so the default path cannot be missing")
		}
		dir := t.TempDir()
		cfg := writeConfig(t, dir, strings.Replace(config, "  jwtFile: sa-token\n", "", 1))
		res := syncDebug(t, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg)
		expectCode(t, res, 3)
		expectStderr(t, res, "automountServiceAccountToken")
	})
}

// writeClientCertificate writes a CA and a client certificate with
// common name cn that the CA signs, as PEM files in dir. It returns the
// paths of the client certificate and its key, and the CA's PEM.
func writeClientCertificate(t *testing.T, dir, cn string) (certFile, keyFile, caPEM string) {
	t.Helper()
	caKey := newECKey(t)
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "secrets-sync test client CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := newECKey(t)
	clientTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTemplate, ca, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, cn+".pem")
	keyFile = filepath.Join(dir, cn+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
}

// pemBody returns the base64 lines of a PEM file, which must not reach a
// log.
func pemBody(t *testing.T, path string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(readFile(t, path)))
	if block == nil {
		t.Fatalf("%s is not PEM", path)
	}
	return base64.StdEncoding.EncodeToString(block.Bytes)[:40]
}

func TestCertLogin(t *testing.T) {
	s := vaulttest.StartTLS(t)
	s.WriteKV2(t, "secret", "authcert/app", map[string]any{"v": "cert-secret-value"})
	s.WritePolicy(t, "authcert-read", `path "secret/data/authcert/*" { capabilities = ["read"] }`)
	certDir := t.TempDir()
	certFile, keyFile, caPEM := writeClientCertificate(t, certDir, "sync-client")
	otherCert, otherKey, _ := writeClientCertificate(t, certDir, "stranger")
	s.EnableAuth(t, "cert", "cert")
	writeAuthConfig(t, s, "auth/cert/certs/app", map[string]any{
		"certificate":    caPEM,
		"token_policies": []string{"authcert-read"},
		"token_ttl":      "10m",
	})
	config := func(cert, key, extra string) string {
		return `
secretStore:
  address: ${VAULT_ADDR}
  tlsCACert: ` + s.CACert + `
  tlsClientCert: ` + cert + `
  tlsClientKey: ` + key + `
  authMethod: cert
` + extra + `
secrets:
  - {name: app, key: authcert/app, files: [{path: out/v, field: v}]}
`
	}
	env := []string{"VAULT_ADDR=" + s.Addr}

	t.Run("with role", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, config(certFile, keyFile, "  role: app"))
		syncWithLogin(t, s, dir, env, cfg, "cert-secret-value", 0, pemBody(t, keyFile))
	})
	t.Run("without role", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, config(certFile, keyFile, ""))
		syncWithLogin(t, s, dir, env, cfg, "cert-secret-value", 0, pemBody(t, keyFile))
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, config(otherCert, otherKey, "  role: app"))
		res := syncDebug(t, dir, env, cfg)
		expectCode(t, res, 3)
		expectStderr(t, res, "log in with cert at auth/cert as role app")
		expectStderr(t, res, "trusts the client certificate")
		expectHidden(t, res, pemBody(t, otherKey), "cert-secret-value")
	})
}

func TestUserpassLogin(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "authuserpass/app", map[string]any{"v": "userpass-secret-value"})
	s.WritePolicy(t, "authuserpass-read", `path "secret/data/authuserpass/*" { capabilities = ["read"] }`)
	password := "pw-" + randomHex(t, 12)
	otherPassword := "pw-" + randomHex(t, 12)
	s.EnableAuth(t, "userpass", "userpass")
	s.EnableAuth(t, "people", "userpass")
	writeAuthConfig(t, s, "auth/userpass/users/deploy", map[string]any{"password": password, "token_policies": []string{"authuserpass-read"}})
	writeAuthConfig(t, s, "auth/people/users/ops", map[string]any{"password": otherPassword, "token_policies": []string{"authuserpass-read"}})
	config := func(store string) string {
		return `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: userpass
` + store + `
secrets:
  - {name: app, key: authuserpass/app, files: [{path: out/v, field: v}]}
`
	}

	t.Run("passwordFile at the default mount", func(t *testing.T) {
		dir := t.TempDir()
		writeSecretFile(t, dir, "password", password)
		cfg := writeConfig(t, dir, config("  username: deploy\n  passwordFile: password"))
		syncWithLogin(t, s, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg, "userpass-secret-value", 0, password)
	})
	t.Run("password from the environment at authMount", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, config("  authMount: people\n  username: ops\n  password: ${OPS_PASSWORD}"))
		syncWithLogin(t, s, dir, []string{"VAULT_ADDR=" + s.Addr, "OPS_PASSWORD=" + otherPassword}, cfg, "userpass-secret-value", 0, otherPassword)
	})
	t.Run("wrong password", func(t *testing.T) {
		dir := t.TempDir()
		writeSecretFile(t, dir, "password", otherPassword)
		cfg := writeConfig(t, dir, config("  username: deploy\n  passwordFile: password"))
		res := syncDebug(t, dir, []string{"VAULT_ADDR=" + s.Addr}, cfg)
		expectCode(t, res, 3)
		expectStderr(t, res, "log in with userpass at auth/userpass as user deploy")
		expectStderr(t, res, "invalid username or password (check username, the password and authMount)")
		// Vault 1.13 responds 500, and every retry would count towards
		// the user lockout.
		if strings.Contains(res.stderr, "retrying") {
			t.Errorf("a wrong password was retried:\n%s", res.stderr)
		}
		expectHidden(t, res, otherPassword, password, "userpass-secret-value")
	})
}

func TestAppRoleWrongSecretIDNotRetried(t *testing.T) {
	s := vaulttest.Shared(t)
	roleID, _ := s.EnableAppRole(t, "wrong-secret-id", []string{"default"})
	dir := t.TempDir()
	wrong := "sid-" + randomHex(t, 16)
	writeSecretFile(t, dir, "secret-id", wrong)
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: approle
  roleId: ${ROLE_ID}
  secretIdFile: secret-id
secrets:
  - {name: app, key: wrongsecretid/app, files: [{path: out/v, field: v}]}
`)
	res := syncDebug(t, dir, []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID}, cfg)
	expectCode(t, res, 3)
	expectStderr(t, res, "invalid secret id (check the role id, the secret id and authMount)")
	// Vault 1.13 responds 500, and every retry would count towards the
	// lockout of the role.
	if strings.Contains(res.stderr, "retrying") {
		t.Errorf("a wrong secret id was retried:\n%s", res.stderr)
	}
	expectHidden(t, res, wrong)
}

// wrapSecretID creates a secret id for the AppRole role and returns the
// token that wraps it for ttl. A non-empty secretID is stored as a custom
// secret id, so that the test can search the logs for its value.
func wrapSecretID(t *testing.T, s *vaulttest.Server, role, secretID, ttl string) string {
	t.Helper()
	client := s.Client(t)
	client.SetWrappingLookupFunc(func(string, string) string { return ttl })
	path, data := "auth/approle/role/"+role+"/secret-id", map[string]any(nil)
	if secretID != "" {
		path, data = "auth/approle/role/"+role+"/custom-secret-id", map[string]any{"secret_id": secretID}
	}
	secret, err := client.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("wrap a secret id of role %s: %v", role, err)
	}
	if secret == nil || secret.WrapInfo == nil || secret.WrapInfo.Token == "" {
		t.Fatalf("wrap a secret id of role %s: the response has no wrapping token", role)
	}
	return secret.WrapInfo.Token
}

// wrappingTokenValid reports whether Vault still accepts the wrapping
// token, which it does until the token is unwrapped or expires.
func wrappingTokenValid(t *testing.T, s *vaulttest.Server, token string) bool {
	t.Helper()
	_, err := s.Client(t).Logical().Write("sys/wrapping/lookup", map[string]any{"token": token})
	return err == nil
}

func TestAppRoleWrappedSecretID(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "authwrapped/app", map[string]any{"v": "wrapped-secret-value"})
	s.WritePolicy(t, "authwrapped-read", `path "secret/data/authwrapped/*" { capabilities = ["read"] }`)
	roleID, _ := s.EnableAppRole(t, "wrapped-sync", []string{"authwrapped-read"})
	secretID := "sid-" + randomHex(t, 16)
	wrappingToken := wrapSecretID(t, s, "wrapped-sync", secretID, "5m")
	dir := t.TempDir()
	writeSecretFile(t, dir, "secret-id", wrappingToken)
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: approle
  roleId: ${ROLE_ID}
  secretIdFile: secret-id
  secretIdWrapped: true
secrets:
  - {name: app, key: authwrapped/app, files: [{path: out/v, field: v}]}
`)
	env := []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID}

	// validate --online leaves the wrapping token for the sync after it.
	res := run(t, dir, env, "validate", "-c", cfg, "--online")
	expectCode(t, res, 0)
	if !strings.Contains(res.stdout+res.stderr, "can be unwrapped only once") {
		t.Errorf("validate --online gave no warning for the wrapped secret id:\n%s%s", res.stdout, res.stderr)
	}
	if !wrappingTokenValid(t, s, wrappingToken) {
		t.Fatal("validate --online spent the wrapping token")
	}

	// The wrapping token is a token too, and unwrapping spends it.
	res = syncWithLogin(t, s, dir, env, cfg, "wrapped-secret-value", 1, secretID, wrappingToken)
	expectStderr(t, res, "secret id unwrapped, kept in memory for later logins")
	if wrappingTokenValid(t, s, wrappingToken) {
		t.Error("the wrapping token is still valid after the login")
	}

	// A wrapping token works once: a second process cannot unwrap it.
	res = syncDebug(t, dir, env, cfg)
	expectCode(t, res, 3)
	expectStderr(t, res, "look up the wrapping token in secretIdFile "+filepath.Join(dir, "secret-id"))
	expectStderr(t, res, "a wrapping token works once")
	expectHidden(t, res, secretID, wrappingToken, "wrapped-secret-value")

	// A token that wraps anything but a secret id is rejected before it
	// is spent.
	kv := s.Client(t)
	kv.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	wrappedKV, err := kv.Logical().Read("secret/data/authwrapped/app")
	if err != nil || wrappedKV == nil || wrappedKV.WrapInfo == nil {
		t.Fatalf("wrap a KV read: %v", err)
	}
	writeSecretFile(t, dir, "secret-id", wrappedKV.WrapInfo.Token)
	res = syncDebug(t, dir, env, cfg)
	expectCode(t, res, 3)
	expectStderr(t, res, "secret/data/authwrapped/app")
	expectStderr(t, res, "not a secret id from auth/approle/role/NAME/secret-id; it was not unwrapped")
	expectHidden(t, res, wrappedKV.WrapInfo.Token, "wrapped-secret-value")
	if !wrappingTokenValid(t, s, wrappedKV.WrapInfo.Token) {
		t.Error("the wrapping token of the KV read was spent, but it should have been rejected before unwrapping")
	}
}

func TestWatchWrappedSecretIDLogsInAgain(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchwrapped/app", map[string]any{"v": "watch-wrapped-1"})
	s.WritePolicy(t, "watchwrapped-read", `path "secret/data/watchwrapped/*" { capabilities = ["read"] }`)
	// A token that lives 2s at most is replaced by a login every 1-2s.
	roleID, _ := s.EnableAppRoleTTL(t, "watch-wrapped", []string{"watchwrapped-read"}, "2s", "2s")
	firstSecretID := "sid-" + randomHex(t, 16)
	first := wrapSecretID(t, s, "watch-wrapped", firstSecretID, "5m")
	dir := t.TempDir()
	writeSecretFile(t, dir, "secret-id", first)
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: approle
  roleId: ${ROLE_ID}
  secretIdFile: secret-id
  secretIdWrapped: true
secrets:
  - {name: app, key: watchwrapped/app, refreshInterval: 1s, files: [{path: out/app, field: v}]}
`)
	p := startWatch(t, dir, []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID}, "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/app"), "watch-wrapped-1")
	// The logins after the first reuse the secret id kept in memory,
	// since the wrapping token in the file is spent.
	p.waitLog(t, 2, "logged in again", "credentials", "default")

	// A new wrapping token in the file is unwrapped at the next login.
	secondSecretID := "sid-" + randomHex(t, 16)
	second := wrapSecretID(t, s, "watch-wrapped", secondSecretID, "5m")
	writeSecretFile(t, dir, "secret-id.new", second)
	if err := os.Rename(filepath.Join(dir, "secret-id.new"), filepath.Join(dir, "secret-id")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new wrapping token to be unwrapped", func() bool { return !wrappingTokenValid(t, s, second) })
	logins := len(p.logLines("logged in again"))
	p.waitLog(t, logins+1, "logged in again", "credentials", "default")
	s.WriteKV2(t, "secret", "watchwrapped/app", map[string]any{"v": "watch-wrapped-2"})
	waitFile(t, filepath.Join(dir, "out/app"), "watch-wrapped-2")
	if n := len(p.logLines("login failed")); n != 0 {
		t.Errorf("%d logins failed", n)
	}
	p.expectStatusClean(t, first, second, firstSecretID, secondSecretID)
	p.stop(t)
	p.expectNoSecrets(t, first, second, firstSecretID, secondSecretID, "watch-wrapped-1", "watch-wrapped-2")
}

func TestWatchKubernetesLogsInAgain(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "watchk8s/app", map[string]any{"v": "watch-k8s-1"})
	s.WritePolicy(t, "watchk8s-read", `path "secret/data/watchk8s/*" { capabilities = ["read"] }`)
	key := newECKey(t)
	first := serviceAccountToken(t, key)
	second := serviceAccountToken(t, key)
	reviewer := newTokenReviewer(t, first, second)
	enableKubernetes(t, s, reviewer, "kubernetes-watch", "watch", []string{"watchk8s-read"}, "2s", "2s")
	dir := t.TempDir()
	writeSecretFile(t, dir, "sa-token", first)
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: kubernetes
  authMount: kubernetes-watch
  role: watch
  jwtFile: sa-token
secrets:
  - {name: app, key: watchk8s/app, refreshInterval: 1s, files: [{path: out/app, field: v}]}
`)
	p := startWatch(t, dir, []string{"VAULT_ADDR=" + s.Addr}, "watch", "-c", cfg)
	waitFile(t, filepath.Join(dir, "out/app"), "watch-k8s-1")
	p.waitLog(t, 1, "logged in again", "credentials", "default")

	// Kubernetes replaces a projected token on disk; the next login
	// reads the new one.
	writeSecretFile(t, dir, "sa-token.new", second)
	if err := os.Rename(filepath.Join(dir, "sa-token.new"), filepath.Join(dir, "sa-token")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a login with the new service account token", func() bool { return reviewer.reviews(second) > 0 })
	s.WriteKV2(t, "secret", "watchk8s/app", map[string]any{"v": "watch-k8s-2"})
	waitFile(t, filepath.Join(dir, "out/app"), "watch-k8s-2")
	p.waitReadiness(t, true)
	p.expectStatusClean(t, first, second)
	p.stop(t)
	logins := len(p.logLines("logged in")) + len(p.logLines("logged in again"))
	revoked := len(p.logLines("token revoked")) + len(p.logLines("token not revoked, it is no longer valid"))
	if revoked != logins {
		t.Errorf("%d tokens revoked of %d obtained by logging in", revoked, logins)
	}
	p.expectNoSecrets(t, first, second, "watch-k8s-1", "watch-k8s-2")
}

// expectStatusClean fails when the status file or /metrics of the running
// watch contains any of values.
func (p *watchProcess) expectStatusClean(t *testing.T, values ...string) {
	t.Helper()
	status, err := os.ReadFile(p.statusFile)
	if err != nil {
		t.Fatalf("read the status file: %v", err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + p.listen + "/metrics")
	if err != nil {
		t.Fatalf("get /metrics: %v", err)
	}
	defer resp.Body.Close()
	metrics, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "secrets_sync_") {
		t.Fatalf("/metrics returned %d without secrets_sync_ metrics:\n%s", resp.StatusCode, metrics)
	}
	for _, v := range values {
		if strings.Contains(string(status), v) {
			t.Errorf("the status file contains the credential %q", v)
		}
		if strings.Contains(string(metrics), v) {
			t.Errorf("/metrics contains the credential %q", v)
		}
	}
}
