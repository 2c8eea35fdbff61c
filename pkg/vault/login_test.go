package vault

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

func TestIsSecretIDPath(t *testing.T) {
	cases := []struct {
		path, mount, namespace string
		want                   bool
	}{
		{"auth/approle/role/app/secret-id", "approle", "", true},
		{"auth/approle/role/app/custom-secret-id", "approle", "", true},
		{"auth/ci-approle/role/app/secret-id", "ci-approle", "", true},
		{"auth/approle/role/app/secret-id", "approle", "team-a", true},
		{"team-a/auth/approle/role/app/secret-id", "approle", "team-a", true},
		{"team-a/auth/approle/role/app/secret-id", "approle", "", false},
		{"team-b/auth/approle/role/app/secret-id", "approle", "team-a", false},
		{"auth/approle/role/app/secret-id", "other", "", false},
		{"auth/approle/role/app/role-id", "approle", "", false},
		{"auth/approle/role//secret-id", "approle", "", false},
		{"auth/approle/role/app/secret-id/lookup", "approle", "", false},
		{"xauth/approle/role/app/secret-id", "approle", "", false},
		{"secret/data/auth/approle/role/app/secret-id", "approle", "", false},
		{"secret/data/app", "approle", "", false},
		{"", "approle", "", false},
	}
	for _, c := range cases {
		if got := isSecretIDPath(c.path, c.mount, c.namespace); got != c.want {
			t.Errorf("isSecretIDPath(%q, %q, %q) = %t, want %t", c.path, c.mount, c.namespace, got, c.want)
		}
	}
}

func TestMarkRejection(t *testing.T) {
	cases := []struct {
		name   string
		status int
		msg    string
		want   Kind
	}{
		{"wrong secret id", http.StatusInternalServerError, "invalid secret id", KindInvalid},
		{"wrong password", http.StatusInternalServerError, "invalid username or password", KindInvalid},
		{"server failure", http.StatusInternalServerError, "internal error", KindUnavailable},
		{"sealed", http.StatusServiceUnavailable, "Vault is sealed", KindUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := markRejection(&Error{Kind: KindUnavailable, Status: c.status, Err: errors.New(c.msg)})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("markRejection returned %T, want *Error", err)
			}
			if e.Kind != c.want {
				t.Errorf("kind = %s, want %s", e.Kind, c.want)
			}
		})
	}
}

func TestUserpassName(t *testing.T) {
	for _, name := range []string{"deploy", "ci.bot", "a", "team_a-1"} {
		if !userpassName.MatchString(name) {
			t.Errorf("%q is rejected, but Vault accepts it", name)
		}
	}
	for _, name := range []string{"", "../sys/seal", "a/b", "-a", "a.", "user@example", "a b"} {
		if userpassName.MatchString(name) {
			t.Errorf("%q is accepted, but it is not a userpass name", name)
		}
	}
}

func TestTokenWithLineBreakNamesOneFix(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request with a line break in its token was sent")
	}))
	t.Cleanup(srv.Close)
	client := newTestClient(t, srv.URL)

	_, err := client.Login(context.Background(), config.Auth{Method: config.AuthToken, Token: "abc\ndef"}, "")

	var e *Error
	if !errors.As(err, &e) || e.Kind != KindAuth {
		t.Fatalf("err = %v, want an auth error", err)
	}
	if n := strings.Count(err.Error(), "check VAULT_TOKEN"); n != 1 {
		t.Errorf("err = %q names its fix %d times, want once", err, n)
	}
	if strings.Contains(err.Error(), "invalid or expired") {
		t.Errorf("err = %q says the token is invalid or expired, but it was never sent", err)
	}
}
