package main_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
)

// setupPKI mounts a PKI engine at mount with a root CA and a role "test"
// whose certificates live at most maxTTL.
func setupPKI(t *testing.T, s *vaulttest.Server, mount, maxTTL string) {
	t.Helper()
	client := s.Client(t)
	if err := client.Sys().Mount(mount, &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "1h"}}); err != nil {
		t.Fatalf("mount pki at %s: %v", mount, err)
	}
	if _, err := client.Logical().Write(mount+"/root/generate/internal", map[string]any{
		"common_name": "secrets-sync test root", "ttl": "1h", "key_type": "ec", "key_bits": 256,
	}); err != nil {
		t.Fatalf("generate root CA: %v", err)
	}
	if _, err := client.Logical().Write(mount+"/roles/test", map[string]any{
		"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": maxTTL,
		"key_type": "ec", "key_bits": 256,
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
}

// keyPair is a certificate and its private key as read from disk.
type keyPair struct {
	serial   *big.Int
	notAfter time.Time
	keyPEM   string
}

// parseKeyPair parses a PEM certificate and a PEM private key and reports
// whether the key is the certificate's.
func parseKeyPair(certPEM, keyPEM []byte) (keyPair, bool, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return keyPair{}, false, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return keyPair{}, false, err
	}

	keyBlock, _ := pem.Decode(keyPEM)
	if keyBlock == nil {
		return keyPair{}, false, errors.New("no PEM private key")
	}
	var key crypto.Signer
	switch keyBlock.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(keyBlock.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(keyBlock.Bytes)
	default:
		var parsed any
		parsed, err = x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
		key, _ = parsed.(crypto.Signer)
	}
	if err != nil || key == nil {
		return keyPair{}, false, fmt.Errorf("parse private key of type %s: %v", keyBlock.Type, err)
	}

	public, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return keyPair{}, false, fmt.Errorf("public key of type %T cannot be compared", cert.PublicKey)
	}
	pair := keyPair{serial: cert.SerialNumber, notAfter: cert.NotAfter, keyPEM: string(keyPEM)}
	return pair, public.Equal(key.Public()), nil
}

// readLinkedPair reads the certificate and key of the current version in
// dir, a folder of layout linked: it follows ..data once and reads both
// files from the version folder it names, which is what every reader sees
// at that moment. ok is false when that version was replaced and removed
// while being read.
func readLinkedPair(t *testing.T, dir string) (pair keyPair, ok bool) {
	t.Helper()
	version, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Errorf("read the ..data link: %v", err)
		return keyPair{}, false
	}
	certPEM, certErr := os.ReadFile(filepath.Join(dir, version, "cert.pem"))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, version, "key.pem"))
	if errors.Is(certErr, fs.ErrNotExist) || errors.Is(keyErr, fs.ErrNotExist) {
		return keyPair{}, false
	}
	if certErr != nil || keyErr != nil {
		t.Errorf("read the pair of %s: %v, %v", version, certErr, keyErr)
		return keyPair{}, false
	}
	pair, match, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		t.Errorf("parse the pair of %s: %v", version, err)
		return keyPair{}, false
	}
	if !match {
		t.Errorf("version %s holds a certificate (serial %s) that is not its key's", version, pair.serial)
	}
	return pair, true
}

// checkPairsUntil reads the pair in dir every millisecond until stop is
// closed, and returns the number of versions it checked.
func checkPairsUntil(t *testing.T, dir string, stop <-chan struct{}) int {
	checked := 0
	for {
		select {
		case <-stop:
			return checked
		default:
		}
		if _, ok := readLinkedPair(t, dir); ok {
			checked++
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWatchReplacesCertificateBeforeExpiry(t *testing.T) {
	t.Parallel()
	s := vaulttest.Shared(t)
	setupPKI(t, s, "pki-lease", "6s")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: web-cert
    engine: generic
    mountPath: pki-lease
    key: issue/test
    method: write
    data: {common_name: app.example.com, ttl: 6s}
    refreshInterval: 1h
    layout: linked
    files:
      - {path: out/tls/key.pem, template: "{{ .private_key }}"}
      - {path: out/tls/cert.pem, template: "{{ .certificate }}"}
    onChange: {command: ["/bin/sh", "-c", "echo changed >> hooks.log"]}
`)
	p := startWatch(t, dir, serverEnv(s), "watch", "-c", cfg)
	tlsDir := filepath.Join(dir, "out/tls")
	waitUntil(t, "the first certificate", func() bool {
		_, err := os.Stat(filepath.Join(tlsDir, "cert.pem"))
		return err == nil
	})

	// A reader checks every version it finds, all through the test; the
	// loop below follows the replacements.
	stop := make(chan struct{})
	checkedc := make(chan int, 1)
	go func() { checkedc <- checkPairsUntil(t, tlsDir, stop) }()

	var seen []keyPair
	deadline := time.Now().Add(watchDeadline)
	for len(seen) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s with %d certificates seen, want 3", watchDeadline, len(seen))
		}
		pair, ok := readLinkedPair(t, tlsDir)
		now := time.Now()
		if ok && (len(seen) == 0 || pair.serial.Cmp(seen[len(seen)-1].serial) != 0) {
			if len(seen) > 0 {
				previous := seen[len(seen)-1]
				if !now.Before(previous.notAfter) {
					t.Errorf("certificate %s was replaced at %s, not before its NotAfter %s",
						previous.serial, now.Format(time.RFC3339Nano), previous.notAfter.Format(time.RFC3339))
				}
			}
			seen = append(seen, pair)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	checked := <-checkedc
	if checked < 100 {
		t.Errorf("the reader checked %d versions of the pair, too few to show anything", checked)
	}
	t.Logf("pairs checked while certificates were replaced: %d", checked)

	for _, name := range []string{"cert.pem", "key.pem"} {
		if target, err := os.Readlink(filepath.Join(tlsDir, name)); err != nil || target != "..data/"+name {
			t.Errorf("%s is a link to %q (%v), want ..data/%s", name, target, err, name)
		}
	}

	hooks := filepath.Join(dir, "hooks.log")
	waitUntil(t, "one hook run per certificate", func() bool { return countLines(t, hooks, "changed") >= len(seen) })
	p.stop(t)
	// A fourth certificate may have landed after the last poll.
	if n := countLines(t, hooks, "changed"); n < len(seen) || n > len(seen)+1 {
		t.Errorf("onChange ran %d times for %d certificates, want once per certificate", n, len(seen))
	}
	var keys []string
	for _, pair := range seen {
		keys = append(keys, strings.TrimSpace(pair.keyPEM))
	}
	p.expectNoSecrets(t, append(keys, s.RootToken)...)
	status := readFile(t, p.statusFile)
	for _, key := range keys {
		if strings.Contains(status, key) {
			t.Error("the status file contains a private key")
		}
	}
}

// setupDatabase mounts the database engine at mount, connected to pg as
// its superuser, with roles whose credentials live ttl and at most maxTTL.
func setupDatabase(t *testing.T, s *vaulttest.Server, pg *vaulttest.Postgres, mount, ttl, maxTTL string, roles ...string) {
	t.Helper()
	client := s.Client(t)
	if err := client.Sys().Mount(mount, &api.MountInput{Type: "database"}); err != nil {
		t.Fatalf("mount database at %s: %v", mount, err)
	}
	if _, err := client.Logical().Write(mount+"/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    pg.ConnectionURL(),
		"username":          pg.User,
		"password":          pg.Password,
		"allowed_roles":     strings.Join(roles, ","),
		"verify_connection": true,
	}); err != nil {
		t.Fatalf("configure the database connection: %v", err)
	}
	for _, role := range roles {
		if _, err := client.Logical().Write(mount+"/roles/"+role, map[string]any{
			"db_name":             "pg",
			"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
			"default_ttl":         ttl,
			"max_ttl":             maxTTL,
		}); err != nil {
			t.Fatalf("write role %s: %v", role, err)
		}
	}
}

// leaseIDs returns the ids of the live leases under prefix, such as
// database/creds/app.
func leaseIDs(t *testing.T, s *vaulttest.Server, prefix string) []string {
	t.Helper()
	secret, err := s.Client(t).Logical().List("sys/leases/lookup/" + prefix + "/")
	if err != nil {
		t.Fatal(err)
	}
	if secret == nil {
		return nil
	}
	keys, _ := secret.Data["keys"].([]any)
	var ids []string
	for _, k := range keys {
		ids = append(ids, prefix+"/"+fmt.Sprint(k))
	}
	return ids
}

// leaseRenewed reports whether the server recorded a renewal of lease id.
func leaseRenewed(t *testing.T, s *vaulttest.Server, id string) bool {
	t.Helper()
	secret, err := s.Client(t).Logical().Write("sys/leases/lookup", map[string]any{"lease_id": id})
	if err != nil || secret == nil {
		return false
	}
	return secret.Data["last_renewal"] != nil
}

func TestDatabaseLeases(t *testing.T) {
	t.Parallel()
	pg := vaulttest.StartPostgres(t)
	s := vaulttest.Shared(t)
	const mount = "database-lease"
	setupDatabase(t, s, pg, mount, "4s", "10s", "app", "once", "validate")

	t.Run("watch renews then replaces", func(t *testing.T) {
		t.Parallel()
		testWatchRenewsThenReplaces(t, s, pg, mount)
	})
	t.Run("sync once keeps lease", func(t *testing.T) {
		t.Parallel()
		testSyncOnceKeepsLease(t, s, pg, mount)
	})
	t.Run("validate online skips request", func(t *testing.T) {
		t.Parallel()
		testValidateOnlineSkipsRequest(t, s, mount)
	})
}

func testWatchRenewsThenReplaces(t *testing.T, s *vaulttest.Server, pg *vaulttest.Postgres, mount string) {
	dir := t.TempDir()
	// The second secret sends the same request, so it shares the read and
	// gets the same credentials.
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: db
    engine: generic
    key: `+mount+`/creds/app
    refreshInterval: 1h
    files:
      - {path: out/username, field: username}
      - {path: out/password, field: password}
    onChange: {command: ["/bin/sh", "-c", "echo db >> hooks.log"]}
  - name: db-copy
    engine: generic
    mountPath: `+mount+`
    key: creds/app
    refreshInterval: 1h
    files: [{path: out/copy-username, field: username}]
`)
	p := startWatch(t, dir, serverEnv(s), "watch", "-c", cfg)
	userPath, passwordPath := filepath.Join(dir, "out/username"), filepath.Join(dir, "out/password")
	copyPath := filepath.Join(dir, "out/copy-username")
	waitUntil(t, "the first credentials", func() bool {
		_, err1 := os.Stat(passwordPath)
		_, err2 := os.Stat(copyPath)
		return err1 == nil && err2 == nil
	})
	landed := time.Now()
	user1, password1 := readFile(t, userPath), readFile(t, passwordPath)
	if got := readFile(t, copyPath); got != user1 {
		t.Errorf("the second secret of the same request got user %q, want %q", got, user1)
	}
	if ids := leaseIDs(t, s, mount+"/creds/app"); len(ids) != 1 {
		t.Errorf("%d leases after the first round, want 1 for two secrets with one request", len(ids))
	}
	if got, err := pg.Query(user1, password1, "SELECT current_user"); err != nil || got != user1 {
		t.Fatalf("log in with the first credentials: %q, %v", got, err)
	}

	// The first credentials live 4s unless renewed. Past that, they must
	// still log in, and the lease must show a renewal.
	p.waitLog(t, 1, "lease renewed")
	time.Sleep(time.Until(landed.Add(5 * time.Second)))
	if got, err := pg.Query(user1, password1, "SELECT current_user"); err != nil || got != user1 {
		t.Errorf("log in with the first credentials 5s after they landed: %q, %v; want the lease renewed", got, err)
	}
	renewed := false
	for _, id := range leaseIDs(t, s, mount+"/creds/app") {
		renewed = renewed || leaseRenewed(t, s, id)
	}
	if !renewed {
		t.Error("no lease under creds/app has a last_renewal")
	}

	// At the 10s max TTL a renewal grants less than 4s, so new
	// credentials are read.
	waitUntil(t, "new credentials", func() bool {
		data, err := os.ReadFile(userPath)
		return err == nil && string(data) != user1
	})
	waitUntil(t, "the new password", func() bool {
		data, err := os.ReadFile(passwordPath)
		return err == nil && string(data) != password1
	})
	user2, password2 := readFile(t, userPath), readFile(t, passwordPath)
	if got, err := pg.Query(user2, password2, "SELECT current_user"); err != nil || got != user2 {
		t.Errorf("log in with the new credentials: %q, %v", got, err)
	}
	waitFile(t, copyPath, user2)
	p.waitLog(t, 1, "lease reaches its max TTL, reading the secret again")

	hooks := filepath.Join(dir, "hooks.log")
	waitUntil(t, "the hook of the new credentials", func() bool { return countLines(t, hooks, "db") >= 2 })
	p.stop(t)
	if n := countLines(t, hooks, "db"); n != 2 {
		t.Errorf("onChange ran %d times, want 2: the first credentials and the new ones, none for a renewal", n)
	}
	p.expectNoSecrets(t, password1, password2, pg.Password, s.RootToken)
	status := readFile(t, p.statusFile)
	for _, secret := range []string{password1, password2} {
		if strings.Contains(status, secret) {
			t.Error("the status file contains a password")
		}
	}
}

func testSyncOnceKeepsLease(t *testing.T, s *vaulttest.Server, pg *vaulttest.Postgres, mount string) {
	s.WritePolicy(t, "lease-once", `path "`+mount+`/creds/once" { capabilities = ["read"] }`)
	roleID, secretID := s.EnableAppRole(t, "lease-once", []string{"lease-once"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore:
  address: ${VAULT_ADDR}
  authMethod: approle
  roleId: ${ROLE_ID}
  secretId: ${SECRET_ID}
secrets:
  - name: db
    engine: generic
    key: `+mount+`/creds/once
    files:
      - {path: out/username, field: username}
      - {path: out/password, field: password}
`)
	res := run(t, dir, []string{"VAULT_ADDR=" + s.Addr, "ROLE_ID=" + roleID, "SECRET_ID=" + secretID},
		"sync", "--once", "-c", cfg, "--log-level", "debug")
	expectCode(t, res, 0)
	user, password := readFile(t, filepath.Join(dir, "out/username")), readFile(t, filepath.Join(dir, "out/password"))
	ids := leaseIDs(t, s, mount+"/creds/once")
	if len(ids) != 1 {
		t.Fatalf("%d leases under creds/once, want 1", len(ids))
	}

	// Revoking the login token would revoke its lease too, at once or
	// within moments. The lease must outlive the run instead.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := s.Client(t).Logical().Write("sys/leases/lookup", map[string]any{"lease_id": ids[0]}); err != nil {
			t.Fatalf("the lease ended after sync --once exited: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, err := pg.Query(user, password, "SELECT current_user"); err != nil || got != user {
		t.Errorf("log in with the credentials after sync --once exited: %q, %v", got, err)
	}
	for _, v := range []string{password, secretID, pg.Password} {
		if strings.Contains(res.stderr, v) {
			t.Errorf("the log contains a credential %q", v)
		}
	}
}

func testValidateOnlineSkipsRequest(t *testing.T, s *vaulttest.Server, mount string) {
	s.WriteKV2(t, "secret", "validate-generic/app", map[string]any{"v": "x"})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
secretStore: {address: "${VAULT_ADDR}"}
secrets:
  - name: app
    key: validate-generic/app
    files: [{path: out/v, field: v}]
  - name: db
    engine: generic
    key: `+mount+`/creds/validate
    files: [{path: out/username, field: username}]
`)
	// --strict fails on warnings, and a secret that is not read is not one.
	res := run(t, dir, serverEnv(s), "validate", "-c", cfg, "--online", "--strict")
	expectCode(t, res, 0)
	if !strings.Contains(res.stdout, "1 secret read, 1 file checked, 1 secret of engine generic not read") {
		t.Errorf("summary does not count one secret read and one not read:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "warning:") {
		t.Errorf("the secret that is not read gave a warning:\n%s", res.stdout)
	}
	if ids := leaseIDs(t, s, mount+"/creds/validate"); len(ids) != 0 {
		t.Errorf("%d leases under creds/validate: validate --online requested credentials", len(ids))
	}
}
