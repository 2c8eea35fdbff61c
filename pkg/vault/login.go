package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// logIn obtains a token for s with one of the login methods, which all
// send a PUT to auth/<mount>/login (userpass adds the user name).
func (c *Client) logIn(ctx context.Context, s *Session, auth config.Auth) error {
	switch auth.Method {
	case config.AuthAppRole:
		return c.logInAppRole(ctx, s, auth)
	case config.AuthJWT, config.AuthKubernetes:
		return c.logInJWT(ctx, s, auth)
	case config.AuthCert:
		return c.logInCert(ctx, s, auth)
	case config.AuthUserpass:
		return c.logInUserpass(ctx, s, auth)
	}
	return fmt.Errorf("auth method %q is not supported", auth.Method)
}

// sendLogin sends a login request to path and stores the token of the
// response in s. A rejected login is an *Error of KindAuth that ends with
// CredentialHint.
func (c *Client) sendLogin(ctx context.Context, s *Session, auth config.Auth, op, path string, body map[string]any) error {
	resp, err := c.do(ctx, op, "PUT", path, "", s.namespace, body, nil)
	if err != nil {
		return authError(markRejection(err), CredentialHint(auth))
	}
	if resp.Auth == nil || resp.Auth.ClientToken == "" {
		return &Error{Kind: KindAuth, Op: op, Address: c.Address(), Err: errors.New("the login response contains no token")}
	}
	s.token = resp.Auth.ClientToken
	s.loggedIn = true
	s.info = loginInfo(resp.Auth.LeaseDuration, resp.Auth.Renewable, time.Now())
	return nil
}

// credentialRejections are the messages with which Vault 1.13 rejects a
// wrong AppRole secret id or userpass password, with status 500 rather
// than 400. Retried as an outage, each attempt would count against Vault's
// user lockout, which blocks the role or user after 5 failed logins by
// default.
var credentialRejections = []string{"invalid secret id", "invalid username or password"}

// markRejection turns a 500 response with one of credentialRejections into
// a KindInvalid error, which is not retried.
func markRejection(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusInternalServerError || e.Err == nil {
		return err
	}
	for _, m := range credentialRejections {
		if strings.Contains(e.Err.Error(), m) {
			e.Kind = KindInvalid
			return e
		}
	}
	return err
}

// CredentialHint returns what to check when the server rejects the
// credentials of auth. It names config keys, never their values.
func CredentialHint(auth config.Auth) string {
	switch auth.Method {
	case config.AuthAppRole:
		if auth.SecretIDWrapped {
			return "check the role id and authMount; the secret id came from a wrapping token, so a rejected secret id needs a new wrapping token in " + secretIDSource(auth)
		}
		return "check the role id, the secret id and authMount"
	case config.AuthJWT:
		return "check role and authMount, and that the JWT's issuer, audience and claims match the role's bound_audiences, user_claim and bound claims, and that it has not expired"
	case config.AuthKubernetes:
		return "check role and authMount, and that the role binds this pod's service account name and namespace"
	case config.AuthCert:
		return "check authMount and role, and that a role under auth/" + auth.Mount + "/certs trusts the client certificate in tlsClientCert"
	case config.AuthUserpass:
		return "check username, the password and authMount"
	}
	return "check the token"
}

func (c *Client) logInAppRole(ctx context.Context, s *Session, auth config.Auth) error {
	roleID, err := readCredential(auth.RoleID, auth.RoleIDFile, "role id")
	if err != nil {
		return err
	}
	body := map[string]any{"role_id": roleID}
	if auth.SecretID != "" || auth.SecretIDFile != "" {
		secretID, err := c.secretID(ctx, auth, s.namespace)
		if err != nil {
			return err
		}
		body["secret_id"] = secretID
	}
	op := fmt.Sprintf("log in with approle at auth/%s", auth.Mount)
	return c.sendLogin(ctx, s, auth, op, "auth/"+auth.Mount+"/login", body)
}

// secretID returns the secret id of an approle set: the value or file
// content as written, or, with secretIdWrapped, the secret id that it
// wraps.
func (c *Client) secretID(ctx context.Context, auth config.Auth, namespace string) (string, error) {
	if !auth.SecretIDWrapped {
		return readCredential(auth.SecretID, auth.SecretIDFile, "secret id")
	}
	wrappingToken, err := readCredential(auth.SecretID, auth.SecretIDFile, "secret id wrapping token")
	if err != nil {
		return "", err
	}
	return c.unwrappedSecretID(ctx, auth, namespace, wrappingToken)
}

// logInJWT logs in with a JWT: any JWT for the jwt method, the pod's
// service account token for kubernetes. The file is read at each login,
// because both kinds of token are short-lived and replaced on disk.
func (c *Client) logInJWT(ctx context.Context, s *Session, auth config.Auth) error {
	tokenKind := "JWT"
	if auth.Method == config.AuthKubernetes {
		tokenKind = "service account token"
	}
	jwt, err := readCredential(auth.JWT, auth.JWTFile, tokenKind)
	if err != nil {
		var ce *CredentialError
		if auth.Method == config.AuthKubernetes && auth.JWTFile == config.DefaultKubernetesTokenFile &&
			errors.As(err, &ce) && errors.Is(ce.Err, os.ErrNotExist) {
			ce.Err = fmt.Errorf("%w; the pod has no service account token mounted, so set automountServiceAccountToken: true or give jwtFile", ce.Err)
		}
		return err
	}
	op := fmt.Sprintf("log in with %s at auth/%s as role %s", auth.Method, auth.Mount, auth.Role)
	return c.sendLogin(ctx, s, auth, op, "auth/"+auth.Mount+"/login", map[string]any{"role": auth.Role, "jwt": jwt})
}

// logInCert logs in with the TLS client certificate that the client
// presents in every handshake. Without a role, Vault tries each
// certificate role of the mount.
func (c *Client) logInCert(ctx context.Context, s *Session, auth config.Auth) error {
	op := fmt.Sprintf("log in with cert at auth/%s", auth.Mount)
	body := map[string]any{}
	if auth.Role != "" {
		op += " as role " + auth.Role
		body["name"] = auth.Role
	}
	return c.sendLogin(ctx, s, auth, op, "auth/"+auth.Mount+"/login", body)
}

// userpassName matches the user names that Vault's userpass method
// accepts in its login path. The config loader checks the same; this
// check keeps a name from adding segments such as .. to the request path.
var userpassName = regexp.MustCompile(`^\w([\w.-]*\w)?$`)

func (c *Client) logInUserpass(ctx context.Context, s *Session, auth config.Auth) error {
	if !userpassName.MatchString(auth.Username) {
		return fmt.Errorf("log in with userpass: username %q is not a valid userpass name", auth.Username)
	}
	password, err := readCredential(auth.Password, auth.PasswordFile, "password")
	if err != nil {
		return err
	}
	op := fmt.Sprintf("log in with userpass at auth/%s as user %s", auth.Mount, auth.Username)
	return c.sendLogin(ctx, s, auth, op, "auth/"+auth.Mount+"/login/"+auth.Username, map[string]any{"password": password})
}
