package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/metrics"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

func newTracker(names ...string) *status.Tracker {
	tr := status.NewTracker(status.CommandWatch)
	secrets := make([]config.Secret, len(names))
	for i, name := range names {
		secrets[i] = config.Secret{Name: name}
	}
	tr.SetSecrets(secrets)
	return tr
}

func request(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func decodeReadiness(t *testing.T, rec *httptest.ResponseRecorder) readiness {
	t.Helper()
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var body readiness
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	return body
}

func TestHealth(t *testing.T) {
	h := newHandler(newTracker("db"), nil)
	for _, path := range []string{"/healthz", "/health"} {
		rec := request(t, h, "GET", path)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, rec.Code)
		}
		if rec.Body.String() != "ok\n" {
			t.Errorf("GET %s body = %q, want ok", path, rec.Body)
		}
	}
}

func TestReadyNotYet(t *testing.T) {
	tr := newTracker("db", "tls")
	tr.SecretDone("db", nil, nil)
	h := newHandler(tr, nil)

	for _, path := range []string{"/readyz", "/ready"} {
		rec := request(t, h, "GET", path)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s = %d, want 503", path, rec.Code)
		}
		body := decodeReadiness(t, rec)
		if body.Ready {
			t.Errorf("GET %s: ready = true", path)
		}
		if len(body.Reasons) != 1 || !strings.Contains(body.Reasons[0], `secret "tls" has not synced yet`) {
			t.Errorf("GET %s: reasons = %q, want one naming tls", path, body.Reasons)
		}
		if body.Secrets != 2 || body.Synced != 1 {
			t.Errorf("GET %s: secrets = %d, synced = %d, want 2 and 1", path, body.Secrets, body.Synced)
		}
	}
}

func TestReadyAfterSync(t *testing.T) {
	tr := newTracker("db", "tls")
	h := newHandler(tr, nil)
	tr.SecretDone("db", nil, nil)
	tr.SecretDone("tls", nil, nil)

	rec := request(t, h, "GET", "/readyz")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /readyz = %d, want 200: %s", rec.Code, rec.Body)
	}
	body := decodeReadiness(t, rec)
	if !body.Ready || len(body.Reasons) != 0 {
		t.Errorf("body = %+v, want ready with no reasons", body)
	}
	if strings.Contains(rec.Body.String(), "reasons") {
		t.Errorf("ready body %q lists reasons", rec.Body)
	}
}

func TestReadyTokenError(t *testing.T) {
	tr := newTracker("db")
	tr.SecretDone("db", nil, nil)
	tr.SetTokenErrors([]error{errors.New("token expired")})

	rec := request(t, newHandler(tr, nil), "GET", "/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d with a token error, want 503", rec.Code)
	}
	if body := decodeReadiness(t, rec); len(body.Reasons) != 1 || body.Reasons[0] != "token: token expired" {
		t.Errorf("reasons = %q", body.Reasons)
	}
}

func TestHead(t *testing.T) {
	tr := newTracker("db")
	h := newHandler(tr, prometheus.NewRegistry())
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/metrics": 200} {
		rec := request(t, h, "HEAD", path)
		if rec.Code != want {
			t.Errorf("HEAD %s = %d, want %d", path, rec.Code, want)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHandler(newTracker("db"), prometheus.NewRegistry())
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		for _, path := range []string{"/healthz", "/health", "/readyz", "/ready", "/metrics"} {
			rec := request(t, h, method, path)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, path, rec.Code)
			}
			if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
				t.Errorf("%s %s: Allow = %q, want GET and HEAD", method, path, allow)
			}
		}
	}
}

func TestUnknownPath(t *testing.T) {
	h := newHandler(newTracker("db"), prometheus.NewRegistry())
	for _, path := range []string{"/", "/healthz/", "/readyz/x", "/status"} {
		if rec := request(t, h, "GET", path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, rec.Code)
		}
	}
}

func TestMetricsRoute(t *testing.T) {
	m := metrics.New("1.0.0", "abc")
	m.ReadDone([]string{"db"}, time.Millisecond, nil)
	h := newHandler(newTracker("db"), m.Registry())

	rec := request(t, h, "GET", "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	for _, want := range []string{`secrets_sync_build_info{`, `secrets_sync_reads_total{result="ok",secret="db"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestMetricsRouteOff(t *testing.T) {
	h := newHandler(newTracker("db"), nil)
	if rec := request(t, h, "GET", "/metrics"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without a registry = %d, want 404", rec.Code)
	}
}

func TestNewNoTracker(t *testing.T) {
	if _, err := New("127.0.0.1:0", nil, nil); err == nil {
		t.Error("New with no tracker succeeded")
	}
}

func TestNewInvalidAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "not an address"} {
		_, err := New(addr, newTracker("db"), nil)
		if err == nil {
			t.Errorf("New(%q) succeeded", addr)
			continue
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("New(%q) error %q does not name the address", addr, err)
		}
	}
}

func TestNewAddressTaken(t *testing.T) {
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()

	_, err = New(inUse.Addr().String(), newTracker("db"), nil)
	if err == nil {
		t.Fatal("New on a inUse port succeeded")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say the address is in use", err)
	}
}

// TestServeAndShutdown runs the real server on a loopback port, checks a
// route over TCP, then cancels the context and expects Serve to return
// and the port to be closed.
func TestServeAndShutdown(t *testing.T) {
	tr := newTracker("db")
	tr.SecretDone("db", nil, nil)
	s, err := New("127.0.0.1:0", tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + s.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz = %d: %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve returned %v after the context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of the context ending")
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done is not closed after Serve returned")
	}
	if conn, err := net.Dial("tcp", s.Addr()); err == nil {
		conn.Close()
		t.Error("the port still accepts connections after shutdown")
	}
}

func TestAddrPicksPort(t *testing.T) {
	s, err := New("127.0.0.1:0", newTracker("db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.listener.Close()
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if host != "127.0.0.1" || port == "0" {
		t.Errorf("Addr() = %q, want 127.0.0.1 with a picked port", s.Addr())
	}
}
