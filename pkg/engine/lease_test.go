package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// testCertificate returns a self-signed certificate valid until notAfter,
// in DER.
func testCertificate(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func testPEM(t *testing.T, notAfter time.Time) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testCertificate(t, notAfter)}))
}

func TestExpiryOfLease(t *testing.T) {
	now := time.Now()
	secret := &vault.Secret{Data: map[string]any{"username": "u"}, Lease: &vault.Lease{Duration: time.Minute, Received: now}}
	e := expiryOf(secret, now)
	if e == nil {
		t.Fatal("expiry = nil, want the lease's end")
	}
	if !e.At.Equal(now.Add(time.Minute)) {
		t.Errorf("At = %v, want %v", e.At, now.Add(time.Minute))
	}
	if e.Cause != "lease" {
		t.Errorf("Cause = %q, want lease", e.Cause)
	}
}

func TestExpiryOfLeaseCappedByToken(t *testing.T) {
	now := time.Now()
	secret := &vault.Secret{Lease: &vault.Lease{Duration: time.Hour, Received: now, TokenExpires: now.Add(10 * time.Minute)}}
	e := expiryOf(secret, now)
	if e == nil || !e.At.Equal(now.Add(10*time.Minute)) || e.Cause != "token" {
		t.Errorf("expiry = %+v, want the token's end in 10m", e)
	}
}

func TestExpiryOfCertificateFields(t *testing.T) {
	now := time.Now()
	leafEnd := now.Add(10 * time.Minute).Truncate(time.Second)
	data := map[string]any{
		"certificate": testPEM(t, leafEnd),
		"issuing_ca":  testPEM(t, now.Add(24*time.Hour)),
		// An expired certificate of the chain is skipped.
		"ca_chain":    []any{testPEM(t, now.Add(-time.Hour)), testPEM(t, now.Add(48*time.Hour))},
		"private_key": "-----BEGIN EC PRIVATE KEY-----\nnot a certificate\n-----END EC PRIVATE KEY-----\n",
	}
	e := expiryOf(&vault.Secret{Data: data}, now)
	if e == nil {
		t.Fatal("expiry = nil, want the leaf certificate's NotAfter")
	}
	if !e.At.Equal(leafEnd) {
		t.Errorf("At = %v, want %v", e.At, leafEnd)
	}
	if e.Cause != "certificate in field certificate" {
		t.Errorf("Cause = %q", e.Cause)
	}
}

func TestExpiryOfCertificateBeforeLease(t *testing.T) {
	now := time.Now()
	end := now.Add(5 * time.Minute).Truncate(time.Second)
	secret := &vault.Secret{
		Data:  map[string]any{"cert": testPEM(t, end)},
		Lease: &vault.Lease{Duration: time.Hour, Received: now},
	}
	e := expiryOf(secret, now)
	if e == nil || !e.At.Equal(end) || e.Cause != "certificate in field cert" {
		t.Errorf("expiry = %+v, want the certificate's end", e)
	}
}

func TestExpiryOfDERCertificate(t *testing.T) {
	now := time.Now()
	end := now.Add(time.Hour).Truncate(time.Second)
	data := map[string]any{"certificate": base64.StdEncoding.EncodeToString(testCertificate(t, end))}
	e := expiryOf(&vault.Secret{Data: data}, now)
	if e == nil || !e.At.Equal(end) {
		t.Errorf("expiry = %+v, want %v", e, end)
	}
}

func TestExpiryOfPlainSecretIsNil(t *testing.T) {
	now := time.Now()
	data := map[string]any{
		"password": "hunter2",
		"expired":  testPEM(t, now.Add(-time.Minute)),
		"blob":     base64.StdEncoding.EncodeToString(make([]byte, 300)),
	}
	if e := expiryOf(&vault.Secret{Data: data}, now); e != nil {
		t.Errorf("expiry = %+v, want nil", e)
	}
	// A KV v1 response without a lease id has no Lease at all; a lease
	// without a TTL does not expire either.
	if e := expiryOf(&vault.Secret{Lease: &vault.Lease{Received: now}}, now); e != nil {
		t.Errorf("expiry of a lease without TTL = %+v, want nil", e)
	}
}

func TestRefreshAtTwoThirds(t *testing.T) {
	start := time.Now()
	e := &Expiry{Received: start, At: start.Add(90 * time.Second)}
	if got := e.refreshAt(0, 0.5); !got.Equal(start.Add(60 * time.Second)) {
		t.Errorf("without jitter: %v after the read, want 60s", got.Sub(start))
	}
	low, high := e.refreshAt(0.1, 0).Sub(start), e.refreshAt(0.1, 0.999999).Sub(start)
	if low != 54*time.Second {
		t.Errorf("lowest jitter: %v, want 54s", low)
	}
	if high < 65*time.Second || high > 66*time.Second {
		t.Errorf("highest jitter: %v, want just under 66s", high)
	}
}

func TestRefreshAtFloor(t *testing.T) {
	start := time.Now()
	e := &Expiry{Received: start, At: start.Add(600 * time.Millisecond)}
	if got := e.refreshAt(0, 0.5).Sub(start); got != minLeaseRefresh {
		t.Errorf("refresh of a nearly expired lease after %v, want %v", got, minLeaseRefresh)
	}
}

func TestNextRefreshTakesEarlier(t *testing.T) {
	now := time.Now()
	rnd := func() float64 { return 0.5 }
	short := &Expiry{Received: now, At: now.Add(6 * time.Second)}
	if got := nextRefresh(now, time.Hour, short, 0, rnd).Sub(now); got != 4*time.Second {
		t.Errorf("6s certificate, 1h refresh: due after %v, want 4s", got)
	}
	long := &Expiry{Received: now, At: now.Add(time.Hour)}
	if got := nextRefresh(now, time.Minute, long, 0, rnd).Sub(now); got != time.Minute {
		t.Errorf("1h lease, 1m refresh: due after %v, want 1m", got)
	}
	if got := nextRefresh(now, time.Minute, nil, 0, rnd).Sub(now); got != time.Minute {
		t.Errorf("no expiry: due after %v, want 1m", got)
	}
}

// leaseReader issues credentials with a renewable lease at each read and
// renews leases as scripted.
type leaseReader struct {
	mu      sync.Mutex
	reads   int
	renewed int
	ttl     time.Duration
	// grants are the TTLs that the next renewals grant, in order; when
	// empty, a renewal grants what it requests.
	grants []time.Duration
	// renewErrs are returned, in order, by the next renewals.
	renewErrs []error
}

func (r *leaseReader) Read(_ context.Context, req vault.Request) (*vault.Secret, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return &vault.Secret{
		Data:  map[string]any{"username": fmt.Sprintf("user-%d", r.reads)},
		Lease: &vault.Lease{ID: req.Path + "/lease", Duration: r.ttl, Renewable: true, Received: time.Now()},
	}, nil
}

func (r *leaseReader) RenewLease(_ context.Context, lease vault.Lease, increment time.Duration) (vault.Lease, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.renewErrs) > 0 {
		err := r.renewErrs[0]
		r.renewErrs = r.renewErrs[1:]
		return vault.Lease{}, err
	}
	r.renewed++
	lease.Duration = increment
	if len(r.grants) > 0 {
		lease.Duration = r.grants[0]
		r.grants = r.grants[1:]
	}
	lease.Received = time.Now()
	return lease, nil
}

func (r *leaseReader) counts() (reads, renewed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.renewed
}

func genericSecret(name, path string, files ...config.File) config.Secret {
	return config.Secret{Name: name, Path: path, Mount: "database", Engine: config.EngineGeneric, Method: config.MethodRead, Files: files}
}

// leasePass is a pass that keeps leases, as the watcher's does.
func leasePass(out *memorySink) *Pass {
	p := NewPass(out, fastOptions())
	p.leases = newLeaseBook()
	return p
}

func runOnce(t *testing.T, p *Pass, r Reader, secrets ...config.Secret) *Report {
	t.Helper()
	report := p.Run(context.Background(), sessionsOf(r), secrets)
	if err := report.Err(); err != nil {
		t.Fatal(err)
	}
	return report
}

func TestPassRenewsLeaseInsteadOfReading(t *testing.T) {
	r := &leaseReader{ttl: 4 * time.Second}
	out := &memorySink{}
	p := leasePass(out)
	s := genericSecret("db", "creds/app", fieldFile("/user", "username"))

	runOnce(t, p, r, s)
	report := runOnce(t, p, r, s)
	if reads, renewed := r.counts(); reads != 1 || renewed != 1 {
		t.Errorf("reads = %d, renewals = %d; want 1 read, then 1 renewal", reads, renewed)
	}
	if out.files["/user"] != "user-1" {
		t.Errorf("/user = %q, want the credentials of the first read", out.files["/user"])
	}
	if e := report.Secrets[0].Expiry; e == nil || e.Cause != "lease" {
		t.Errorf("expiry after the renewal = %+v, want the renewed lease", e)
	}
}

// expectSecondRead runs a pass over one leased secret twice with r and
// checks that the second pass read the secret again and wrote the new
// credentials, where why says what makes it read again.
func expectSecondRead(t *testing.T, r *leaseReader, why string) {
	t.Helper()
	out := &memorySink{}
	p := leasePass(out)
	s := genericSecret("db", "creds/app", fieldFile("/user", "username"))

	runOnce(t, p, r, s)
	runOnce(t, p, r, s)
	if reads, _ := r.counts(); reads != 2 {
		t.Errorf("reads = %d, want 2: %s", reads, why)
	}
	if out.files["/user"] != "user-2" {
		t.Errorf("/user = %q, want the new credentials", out.files["/user"])
	}
}

func TestPassReadsAgainAtMaxTTL(t *testing.T) {
	r := &leaseReader{ttl: 4 * time.Second, grants: []time.Duration{2 * time.Second}}
	expectSecondRead(t, r, "a renewal that grants less than the TTL reads again")
}

func TestPassReadsAgainAfterRefusedRenewal(t *testing.T) {
	refusals := []struct {
		name string
		err  error
	}{
		{"lease ended", &vault.Error{Kind: vault.KindInvalid, Status: http.StatusBadRequest, Err: errors.New("lease not found")}},
		{"past max TTL", &vault.Error{Kind: vault.KindUnavailable, Status: http.StatusInternalServerError, Err: errors.New("past the max TTL, cannot renew")}},
		{"token replaced", vault.ErrLeaseOfOtherToken},
	}
	for _, refusal := range refusals {
		t.Run(refusal.name, func(t *testing.T) {
			r := &leaseReader{ttl: time.Minute, renewErrs: []error{refusal.err}}
			expectSecondRead(t, r, "a refused renewal reads again")
		})
	}
}

func TestPassKeepsLeaseAfterOutage(t *testing.T) {
	outage := &vault.Error{Kind: vault.KindUnreachable, Err: errors.New("connection refused")}
	r := &leaseReader{ttl: time.Minute, renewErrs: []error{outage}}
	out := &memorySink{}
	p := NewPass(out, Options{Attempts: 1})
	p.leases = newLeaseBook()
	s := genericSecret("db", "creds/app", fieldFile("/user", "username"))

	runOnce(t, p, r, s)
	report := p.Run(context.Background(), sessionsOf(r), []config.Secret{s})
	if !errors.Is(report.Err(), outage) {
		t.Errorf("err = %v, want the outage", report.Err())
	}
	runOnce(t, p, r, s)
	if reads, renewed := r.counts(); reads != 1 || renewed != 1 {
		t.Errorf("reads = %d, renewals = %d; want the lease renewed once the server is back", reads, renewed)
	}
	if out.files["/user"] != "user-1" {
		t.Errorf("/user = %q, want the first credentials still", out.files["/user"])
	}
}

func TestPassWithoutLeasesReadsEachTime(t *testing.T) {
	r := &leaseReader{ttl: time.Minute}
	p := NewPass(&memorySink{}, fastOptions())
	s := genericSecret("db", "creds/app", fieldFile("/user", "username"))
	runOnce(t, p, r, s)
	runOnce(t, p, r, s)
	if reads, renewed := r.counts(); reads != 2 || renewed != 0 {
		t.Errorf("reads = %d, renewals = %d; want 2 reads, as sync --once does", reads, renewed)
	}
}

func TestPassSharesLeasedReadOfSameRequest(t *testing.T) {
	r := &leaseReader{ttl: time.Minute}
	out := &memorySink{}
	p := leasePass(out)
	runOnce(t, p, r,
		genericSecret("user", "creds/app", fieldFile("/user", "username")),
		genericSecret("copy", "creds/app", fieldFile("/copy", "username")),
	)
	if reads, _ := r.counts(); reads != 1 {
		t.Errorf("reads = %d, want 1 for two secrets with the same request", reads)
	}
	if out.files["/user"] != out.files["/copy"] {
		t.Errorf("/user = %q, /copy = %q; want the same credentials", out.files["/user"], out.files["/copy"])
	}
}

func TestGenericReadKey(t *testing.T) {
	write := func(data map[string]any) config.Secret {
		s := genericSecret("cert", "issue/web", fieldFile("/c", "certificate"))
		s.Mount, s.Method, s.WriteData = "pki", config.MethodWrite, data
		return s
	}
	a := write(map[string]any{"common_name": "a.example.com", "ttl": "1h"})
	b := write(map[string]any{"ttl": "1h", "common_name": "a.example.com"})
	other := write(map[string]any{"common_name": "b.example.com", "ttl": "1h"})
	if readKey(a) != readKey(b) {
		t.Error("equal data in another order gives another read key")
	}
	if readKey(a) == readKey(other) {
		t.Error("different data gives the same read key")
	}
	whole := a
	whole.Mount, whole.Path = "", "pki/issue/web"
	if readKey(a) != readKey(whole) {
		t.Error(`mountPath "pki" with key issue/web and key pki/issue/web give different read keys`)
	}
	read := a
	read.Method, read.WriteData = config.MethodRead, nil
	if readKey(a) == readKey(read) {
		t.Error("read and write of one path give the same read key")
	}
	kv := secretOf("kv", "issue/web")
	kv.Mount, kv.KVVersion = "pki", config.KVv1
	if readKey(kv) == readKey(read) {
		t.Error("engine kv and engine generic of one path give the same read key")
	}
}

func TestSelectDueKeepsLeasedEntriesTogether(t *testing.T) {
	now := time.Now()
	user := genericSecret("user", "creds/app")
	password := genericSecret("password", "creds/app")
	user.Refresh, password.Refresh = time.Hour, time.Hour
	expiry := &Expiry{Received: now, At: now.Add(time.Minute)}

	due := &entry{secret: user, next: now, expiry: expiry}
	later := &entry{secret: password, next: now.Add(30 * time.Minute), expiry: expiry}
	if batch := selectDue([]*entry{due, later}, now, 0.1); len(batch) != 2 {
		t.Errorf("batch has %d entries, want both entries of the leased read", len(batch))
	}

	due.expiry, later.expiry = nil, nil
	if batch := selectDue([]*entry{due, later}, now, 0.1); len(batch) != 1 {
		t.Errorf("batch has %d entries, want only the due one when nothing expires", len(batch))
	}
}

func TestLeaseBookKeepsUsedKeys(t *testing.T) {
	b := newLeaseBook()
	secret := &vault.Secret{Lease: &vault.Lease{Duration: time.Minute, Renewable: true}}
	b.record("a", secret)
	b.record("b", secret)
	b.record("c", &vault.Secret{Lease: &vault.Lease{Duration: time.Minute}})
	if _, ok := b.get("c"); ok {
		t.Error("a lease that is not renewable was recorded")
	}
	b.keep(func(key string) bool { return key == "a" })
	if _, ok := b.get("a"); !ok {
		t.Error("a used key was dropped")
	}
	if _, ok := b.get("b"); ok {
		t.Error("an unused key was kept")
	}
}
