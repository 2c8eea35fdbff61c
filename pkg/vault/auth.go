package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// Session is a client with a token from one credential set.
type Session struct {
	client    *Client
	name      string // credential set name, "" for the default
	token     string
	namespace string // namespace of the login and of token calls
	loggedIn  bool   // the token came from a login, so this process owns it
	leased    bool   // a read obtained a lease; guarded by infoMu

	infoMu sync.Mutex
	info   TokenInfo
}

// Login obtains a token for the credential set: it checks a given token
// with a lookup, or logs in with the set's method (login.go). Credentials
// in files are read again at each call. A rejected token or login is an
// *Error of KindAuth. namespace is the namespace the credentials belong to.
func (c *Client) Login(ctx context.Context, auth config.Auth, namespace string) (*Session, error) {
	s := &Session{client: c, name: auth.Name, namespace: namespace}
	switch auth.Method {
	case config.AuthToken:
		token, err := readCredential(auth.Token, auth.TokenFile, "token")
		if err != nil {
			return nil, err
		}
		s.token = token
		resp, err := c.do(ctx, "look up token", "GET", "auth/token/lookup-self", token, namespace, nil, nil)
		if err != nil {
			return nil, authError(err, "the token is invalid or expired; check VAULT_TOKEN, token or tokenFile")
		}
		s.info = lookupInfo(resp.Data, time.Now())
	default:
		if err := c.logIn(ctx, s, auth); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// authError marks a rejected login as KindAuth; failures to reach the
// server keep their kind, so they can be retried. A 404 means the address
// serves no Vault API at all, which no credential can fix.
func authError(err error, hint string) error {
	var e *Error
	if !errors.As(err, &e) || e.Transient() || e.Kind == KindTLS {
		return err
	}
	if e.Kind == KindNotFound {
		e.Kind = KindAuth
		e.Err = fmt.Errorf("the server at %s has no such endpoint; check that the address is a Vault or OpenBao server, with no path after the port", e.Address)
		return e
	}
	e.Kind = KindAuth
	if errors.Is(e.Err, errTokenControl) || errors.Is(e.Err, errProxyUnauthorized) {
		return e
	}
	if e.Err != nil {
		e.Err = fmt.Errorf("%w (%s)", e.Err, hint)
	} else {
		e.Err = errors.New(hint)
	}
	return e
}

// CredentialError is a credential file that cannot be read or is empty.
type CredentialError struct {
	What string
	File string
	Err  error
}

func (e *CredentialError) Error() string {
	return fmt.Sprintf("read %s file %s: %v", e.What, e.File, e.Err)
}

func (e *CredentialError) Unwrap() error { return e.Err }

// readCredential returns value, or the trimmed content of file.
func readCredential(value, file, what string) (string, error) {
	if value != "" {
		return value, nil
	}
	if file == "" {
		return "", &CredentialError{What: what, File: "(none)", Err: errors.New("no value and no file is set")}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", &CredentialError{What: what, File: file, Err: err}
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", &CredentialError{What: what, File: file, Err: errors.New("the file is empty")}
	}
	return v, nil
}

// LoggedIn reports whether the token came from a login of this process.
func (s *Session) LoggedIn() bool { return s.loggedIn }

// Name returns the credential set name, "" for the default set.
func (s *Session) Name() string { return s.name }

// Revoke revokes the session's token when this process obtained it by
// logging in; a token that was given to the process is never revoked.
// Neither is a token that obtained a lease (HasLeases), because Vault
// revokes a token's leases with it, and the files still hold the secrets.
func (s *Session) Revoke(ctx context.Context) error {
	if !s.loggedIn || s.HasLeases() {
		return nil
	}
	_, err := s.client.do(ctx, "revoke token", "PUT", "auth/token/revoke-self", s.token, s.namespace, nil, nil)
	if err == nil {
		s.loggedIn = false
	}
	return err
}
