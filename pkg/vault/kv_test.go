package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// newTestClient returns a client for the given addresses and closes it
// when the test ends.
func newTestClient(t *testing.T, addresses ...string) *Client {
	t.Helper()
	client, err := NewClient(config.Store{Addresses: addresses}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// kvServer returns a session whose server responds to every request with
// status 200 and body.
func kvServer(t *testing.T, body string) *Session {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return &Session{client: newTestClient(t, srv.URL), token: "t"}
}

func TestReadKVv2Fields(t *testing.T) {
	s := kvServer(t, `{"request_id":"r","lease_id":"","data":{"data":{"password":"pw","port":5432,"nested":{"a":[1,2]}},"metadata":{"created_time":"2026-01-01T00:00:00Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}}}`)

	secret, err := s.Read(context.Background(), Request{Mount: "secret", Path: "app", KVVersion: config.KVv2})
	if err != nil {
		t.Fatal(err)
	}
	if secret.Data["password"] != "pw" {
		t.Errorf("password = %v, want pw", secret.Data["password"])
	}
	if port, ok := secret.Data["port"].(json.Number); !ok || port.String() != "5432" {
		t.Errorf("port = %#v, want json.Number 5432", secret.Data["port"])
	}
	if _, ok := secret.Data["nested"].(map[string]any); !ok {
		t.Errorf("nested = %#v, want a map", secret.Data["nested"])
	}
	if _, ok := secret.Data["metadata"]; ok {
		t.Error("the metadata is among the secret's fields")
	}
	if secret.Lease != nil {
		t.Errorf("lease = %+v, want nil for a KV read", secret.Lease)
	}
}

func TestReadKVv2DeletedVersion(t *testing.T) {
	bodies := map[string]string{
		"data null":     `{"data":{"data":null,"metadata":{"deletion_time":"2026-01-01T00:00:00Z","destroyed":false,"version":2}}}`,
		"no data":       `{"data":null}`,
		"data a string": `{"data":{"data":"x"}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			s := kvServer(t, body)

			_, err := s.Read(context.Background(), Request{Mount: "secret", Path: "app", KVVersion: config.KVv2})
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindNotFound {
				t.Fatalf("err = %v, want a not-found error", err)
			}
			if !strings.Contains(err.Error(), "deleted or destroyed") {
				t.Errorf("err = %q, want it to say the version is deleted or destroyed", err)
			}
		})
	}
}

func TestReadKVv1Fields(t *testing.T) {
	s := kvServer(t, `{"data":{"data":"a field named data","password":"pw"}}`)

	secret, err := s.Read(context.Background(), Request{Mount: "kv", Path: "app", KVVersion: config.KVv1})
	if err != nil {
		t.Fatal(err)
	}
	if secret.Data["data"] != "a field named data" {
		t.Errorf("data = %v, want the field itself for KV v1", secret.Data["data"])
	}
	if secret.Data["password"] != "pw" {
		t.Errorf("password = %v, want pw", secret.Data["password"])
	}
}

func TestReadsReuseOneConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Vault ends its JSON body with a line break after the value.
		fmt.Fprint(w, `{"data":{"data":{"password":"pw"}}}`+"\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := &Session{client: newTestClient(t, srv.URL), token: "t"}

	for range 5 {
		if _, err := s.Read(context.Background(), Request{Mount: "secret", Path: "app", KVVersion: config.KVv2}); err != nil {
			t.Fatal(err)
		}
	}

	if n := conns.Load(); n != 1 {
		t.Errorf("5 reads in a row opened %d connections, want 1", n)
	}
}
