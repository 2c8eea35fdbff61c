package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// proxyPassword is the password of the addresses in these tests. It is
// short and unusual, so that a message that contains it is found.
const proxyPassword = "hunter2"

// basicAuthServer returns the host:port of a server that, like a reverse
// proxy with basic auth, rejects a request without the user bob and
// proxyPassword with 401 and a body that is not Vault JSON. It responds
// to the others with status and body.
func basicAuthServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if !ok || user != "bob" || password != proxyPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="vault"`)
			http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// closedHostPort returns a loopback host:port that nothing listens on.
func closedHostPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := l.Addr().String()
	l.Close()
	return hostPort
}

func readApp(t *testing.T, client *Client) error {
	t.Helper()
	s := &Session{client: client, token: "t"}
	_, err := s.Read(context.Background(), Request{Mount: "secret", Path: "app", KVVersion: config.KVv2})
	return err
}

func TestClientSendsUserInfo(t *testing.T) {
	hostPort := basicAuthServer(t, http.StatusOK, `{"data":{"data":{"v":"ok"},"metadata":{"version":1}}}`)
	client := newTestClient(t, "http://bob:"+proxyPassword+"@"+hostPort)

	if err := readApp(t, client); err != nil {
		t.Fatalf("read through the basic auth server: %v", err)
	}
	if got, want := client.Address(), "http://bob:xxxxx@"+hostPort; got != want {
		t.Errorf("Address() = %q, want %q", got, want)
	}
}

func TestErrorHidesAddressPassword(t *testing.T) {
	closed := closedHostPort(t)
	rejecting := basicAuthServer(t, http.StatusForbidden, `{"errors":["permission denied"]}`)
	cases := []struct {
		name, hostPort, password string
		kind                     Kind
	}{
		{"unreachable", closed, proxyPassword, KindUnreachable},
		{"rejected by the proxy", rejecting, "wrong-pw", KindAuth},
		{"rejected by the server", rejecting, proxyPassword, KindForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client := newTestClient(t, "http://bob:"+c.password+"@"+c.hostPort)

			err := readApp(t, client)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.Kind != c.kind {
				t.Errorf("kind = %v, want %v (err: %v)", e.Kind, c.kind, err)
			}
			if want := "http://bob:xxxxx@" + c.hostPort; e.Address != want {
				t.Errorf("Address = %q, want %q", e.Address, want)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", e.Err)} {
				if strings.Contains(text, c.password) {
					t.Errorf("the error shows the password: %s", text)
				}
			}
		})
	}
}

func TestUnreachableErrorNamesRedactedAddress(t *testing.T) {
	closed := closedHostPort(t)
	client := newTestClient(t, "http://bob:"+proxyPassword+"@"+closed)

	err := readApp(t, client)
	want := "server http://bob:xxxxx@" + closed + " unreachable"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
}

func TestSwitchedServerLogHidesPassword(t *testing.T) {
	closed := closedHostPort(t)
	working := basicAuthServer(t, http.StatusOK, `{"data":{"data":{"v":"ok"},"metadata":{"version":1}}}`)
	var logged bytes.Buffer
	store := config.Store{Addresses: []string{
		"http://bob:" + proxyPassword + "@" + closed,
		"http://bob:" + proxyPassword + "@" + working,
	}}
	client, err := NewClient(store, Options{Logger: log.New(&logged)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)

	if err := readApp(t, client); err != nil {
		t.Fatalf("read after failover: %v", err)
	}
	line := logged.String()
	if !strings.Contains(line, "switched server") {
		t.Fatalf("no switch logged:\n%s", line)
	}
	if strings.Contains(line, proxyPassword) {
		t.Errorf("the switch line shows the password:\n%s", line)
	}
	for _, want := range []string{"from=http://bob:xxxxx@" + closed, "to=http://bob:xxxxx@" + working} {
		if !strings.Contains(line, want) {
			t.Errorf("the switch line lacks %s:\n%s", want, line)
		}
	}
}

func TestNewClientErrorHidesPassword(t *testing.T) {
	_, err := NewClient(config.Store{Addresses: []string{"http://bob:" + proxyPassword + "@vault:port"}}, Options{})
	if err == nil {
		t.Fatal("NewClient accepted an address with an invalid port")
	}
	if strings.Contains(err.Error(), proxyPassword) {
		t.Errorf("the error shows the password: %v", err)
	}
	if want := "create client for http://bob:xxxxx@vault:port: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want it to start with %q", err, want)
	}
}
