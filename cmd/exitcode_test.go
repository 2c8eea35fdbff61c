package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// passOf returns the *PassError of a pass whose secrets s0, s1, ... failed
// with errs.
func passOf(errs ...error) error {
	wrapped := make([]error, len(errs))
	for i, err := range errs {
		wrapped[i] = &engine.SecretError{Secret: fmt.Sprint("s", i), Err: err}
	}
	return &engine.PassError{Errors: wrapped}
}

func TestHintNamesCredentialSets(t *testing.T) {
	denied := &vault.Error{Kind: vault.KindAuth}
	loginOf := func(set string) error { return &engine.LoginError{Credentials: set, Err: denied} }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"default set", passOf(loginOf("")), defaultCredentialsHint},
		{"named set", passOf(loginOf("ci"), loginOf("ci")),
			"check the credentials: the settings of secretStore.credentials.ci"},
		{"named and default sets", passOf(loginOf("team-b"), loginOf(""), loginOf("ci")),
			"check the credentials: VAULT_TOKEN, or the token, tokenFile and login settings under secretStore, " +
				"and the settings of secretStore.credentials.ci, and the settings of secretStore.credentials.team-b"},
		{"expired token of a named set", passOf(&engine.TokenError{Credentials: "ci", Err: denied}),
			"check the credentials: the settings of secretStore.credentials.ci"},
		{"set not known", passOf(loginOf("ci"), denied), defaultCredentialsHint},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := hint(ExitUnreachable, c.err); got != c.want {
				t.Errorf("hint = %q, expected %q", got, c.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	invalid := &config.InvalidError{File: "c.yaml"}
	unreachable := &vault.Error{Kind: vault.KindUnreachable}
	authDenied := &vault.Error{Kind: vault.KindAuth}
	tlsFailed := &vault.Error{Kind: vault.KindTLS}
	sealed := &vault.Error{Kind: vault.KindUnavailable}
	notFound := &vault.Error{Kind: vault.KindNotFound}
	forbidden := &vault.Error{Kind: vault.KindForbidden}
	render := &engine.RenderError{Path: "/x", Err: errors.New("missing field")}
	empty := &sink.EmptyError{Path: "/x"}
	write := &sink.WriteError{Path: "/x", Op: "write", Err: errors.New("read-only file system")}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"unknown", errors.New("boom"), 1},
		{"usage", &usageError{errors.New("bad flag")}, 2},
		{"invalid config", invalid, 2},
		{"missing config file", &config.ReadError{File: "c.yaml"}, 2},
		{"unreachable", passOf(unreachable), 3},
		{"auth denied", passOf(authDenied), 3},
		{"tls", passOf(tlsFailed), 3},
		{"sealed", passOf(sealed), 3},
		{"credential file", passOf(&vault.CredentialError{What: "token"}), 3},
		{"not found", passOf(notFound), 4},
		{"forbidden", passOf(forbidden), 4},
		{"render", passOf(render), 4},
		{"empty", passOf(empty), 4},
		{"write", passOf(write), 5},
		{"3 before 4 and 5", passOf(write, notFound, unreachable), 3},
		{"4 before 5", passOf(write, render), 4},
		{"known before unknown", passOf(errors.New("boom"), write), 5},
		{"reported wrapper", &reportedError{err: passOf(notFound)}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ExitCode(c.err); got != c.want {
				t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
}

func TestHintForUnreachable(t *testing.T) {
	authDenied := &vault.Error{Kind: vault.KindAuth}
	unreachable := &vault.Error{Kind: vault.KindUnreachable}
	sealed := &vault.Error{Kind: vault.KindUnavailable, Status: 503}
	credentialFile := &vault.CredentialError{What: "token", File: "/run/token", Err: errors.New("the file is empty")}
	connection := hint(ExitUnreachable, passOf(unreachable))
	credentials := hint(ExitUnreachable, passOf(authDenied))
	unavailable := hint(ExitUnreachable, passOf(sealed))
	proxy := hint(ExitUnreachable, passOf(&vault.Error{Kind: vault.KindAuth, Status: 401}))
	generic := hint(ExitUnreachable, passOf(authDenied, unreachable))
	if !strings.Contains(connection, "server address") {
		t.Errorf("hint for an unreachable server = %q, expected it to name the server address", connection)
	}
	if strings.Contains(connection, "credentials") || strings.Contains(connection, "TOKEN") {
		t.Errorf("hint for an unreachable server = %q, expected no credentials", connection)
	}
	if strings.Contains(credentials, "address") || strings.Contains(credentials, "TLS") {
		t.Errorf("hint for a rejected token = %q, expected no address or TLS", credentials)
	}
	if !strings.Contains(credentials, "credentials") {
		t.Errorf("hint for a rejected token = %q, expected it to name the credentials", credentials)
	}
	if !strings.Contains(proxy, "user and password in the server address") {
		t.Errorf("hint for a 401 from a proxy = %q, expected the user and password of the address", proxy)
	}
	if strings.Contains(proxy, "TOKEN") {
		t.Errorf("hint for a 401 from a proxy = %q, expected no token", proxy)
	}
	if !strings.Contains(unavailable, "unsealed") {
		t.Errorf("hint for a sealed server = %q, expected it to mention unsealing", unavailable)
	}
	if !strings.Contains(generic, "server address") || !strings.Contains(generic, "credentials") {
		t.Errorf("hint for mixed failures = %q, expected both the server address and the credentials", generic)
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"auth denied", passOf(authDenied), credentials},
		{"credential file", passOf(credentialFile), credentials},
		{"auth denied and a missing secret", passOf(authDenied, &vault.Error{Kind: vault.KindNotFound}), credentials},
		{"reported wrapper", &reportedError{err: passOf(authDenied)}, credentials},
		{"auth denied alone", authDenied, credentials},
		{"unreachable and tls", passOf(unreachable, &vault.Error{Kind: vault.KindTLS}), connection},
		{"unreachable and a missing secret", passOf(unreachable, &vault.Error{Kind: vault.KindNotFound}), connection},
		{"sealed", passOf(sealed), unavailable},
		{"rate limited", passOf(&vault.Error{Kind: vault.KindUnavailable, Status: 429}), unavailable},
		{"sealed and unreachable", passOf(sealed, unreachable), generic},
		{"auth denied and unreachable", passOf(authDenied, unreachable), generic},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := hint(ExitCode(c.err), c.err); got != c.want {
				t.Errorf("hint = %q, expected %q", got, c.want)
			}
		})
	}
}

func TestHintForSecret(t *testing.T) {
	empty := &sink.EmptyError{Path: "/run/secrets/token"}
	notFound := &vault.Error{Kind: vault.KindNotFound}
	cases := []struct {
		name    string
		err     error
		want    []string
		without string
	}{
		{"empty render", passOf(empty), []string{"field is empty", "allowEmpty: true"}, "policy"},
		{"empty render and unwritable file", passOf(empty, &sink.WriteError{Path: "/x", Op: "write", Err: errors.New("read-only")}), []string{"allowEmpty: true"}, "policy"},
		{"empty render and a missing secret", passOf(empty, notFound), []string{"policy"}, "allowEmpty"},
		{"missing secret", passOf(notFound), []string{"exists at its path", "policy"}, "allowEmpty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hint(ExitCode(c.err), c.err)
			for _, want := range c.want {
				if !strings.Contains(got, want) {
					t.Errorf("hint = %q, expected it to contain %q", got, want)
				}
			}
			if strings.Contains(got, c.without) {
				t.Errorf("hint = %q, expected no %q", got, c.without)
			}
		})
	}
}

func TestHintForUsage(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		want    string
		without string
	}{
		{"invalid config", &config.InvalidError{File: "config.yaml"}, "fix the config file", "command line"},
		{"unreadable config", &config.ReadError{File: "config.yaml", Err: fs.ErrNotExist}, "config file's path", "command line"},
		{"bad flag", &usageError{errors.New("invalid --timeout")}, "fix the command line", "config"},
		{"invalid template file", &templateFileError{Path: "db.tmpl", Err: errors.New("unexpected EOF"), Invalid: true}, "template file db.tmpl", "command line"},
		{"unreadable template file", &templateFileError{Path: "db.tmpl", Err: fs.ErrNotExist}, "--template", "command line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hint(ExitCode(c.err), c.err)
			if !strings.Contains(got, c.want) {
				t.Errorf("hint = %q, expected it to contain %q", got, c.want)
			}
			if strings.Contains(got, c.without) {
				t.Errorf("hint = %q, expected no %q", got, c.without)
			}
		})
	}
}

func TestPassSummaryNamesFailedLogin(t *testing.T) {
	denied := &vault.Error{Kind: vault.KindAuth}
	ci := &engine.LoginError{Credentials: "ci", Err: denied}
	deploy := &engine.LoginError{Credentials: "deploy", Err: denied}
	defaultSet := &engine.LoginError{Err: denied}
	notFound := &vault.Error{Kind: vault.KindNotFound}
	const reasons = "; the error lines above give the reasons"
	cases := []struct {
		name string
		err  *engine.PassError
		want string
	}{
		{"no login", passOf(notFound, notFound).(*engine.PassError), "2 of the secrets failed (exit code 4)" + reasons},
		{"one set", passOf(ci, ci, ci).(*engine.PassError), `login failed for credential set "ci", so 3 secrets could not be read (exit code 3)` + reasons},
		{"default set", passOf(defaultSet).(*engine.PassError), "login failed for the default credentials under secretStore, so 1 secret could not be read (exit code 3)" + reasons},
		{"two sets", passOf(deploy, ci, ci).(*engine.PassError), `login failed for credential set "ci", so 2 secrets could not be read; login failed for credential set "deploy", so 1 secret could not be read (exit code 3)` + reasons},
		{"set and others", passOf(ci, notFound, ci, notFound).(*engine.PassError), `login failed for credential set "ci", so 2 secrets could not be read; 2 other secrets failed (exit code 3)` + reasons},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := passSummary(c.err, ExitCode(c.err)); got != c.want {
				t.Errorf("passSummary = %q, want %q", got, c.want)
			}
		})
	}
}
