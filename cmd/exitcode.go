package cmd

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// Exit codes of every command. When several kinds of failure happen in one
// run, the lowest of 2, 3, 4 and 5 wins.
const (
	ExitOK          = 0
	ExitInternal    = 1
	ExitUsage       = 2
	ExitUnreachable = 3
	ExitSecret      = 4
	ExitWrite       = 5
)

// exitCodesHelp is appended to the help of every command.
const exitCodesHelp = `
Exit codes:
  0  success
  1  unexpected internal error
  2  usage error or invalid config
  3  Vault unreachable, TLS failure or authentication denied
  4  a secret is missing or forbidden, or a template cannot render with it
  5  a destination cannot be written
When several happen, the first in the order 2, 3, 4, 5 wins.`

// usageError marks a mistake in the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// ExitCode maps an error of a command to its exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	code := ExitInternal
	for _, e := range failures(err) {
		code = preferCode(code, singleExitCode(e))
	}
	return code
}

// failures returns the errors of the secrets of a *PassError in err, or
// err alone when it contains none.
func failures(err error) []error {
	var pass *engine.PassError
	if errors.As(err, &pass) {
		return pass.Errors
	}
	return []error{err}
}

// onlyFailuresOf reports whether err has failures with exit code code and
// each of them matches. Then the hint can name that cause alone.
func onlyFailuresOf(err error, code int, matches func(error) bool) bool {
	found := false
	for _, e := range failures(err) {
		if singleExitCode(e) != code {
			continue
		}
		if !matches(e) {
			return false
		}
		found = true
	}
	return found
}

// isCredentialFailure reports whether err is a rejected token or login, or
// a credential file that cannot be read.
func isCredentialFailure(err error) bool {
	var vaultErr *vault.Error
	var credErr *vault.CredentialError
	return (errors.As(err, &vaultErr) && vaultErr.Kind == vault.KindAuth) || errors.As(err, &credErr)
}

// isProxyRejection reports whether err is a 401 response, which Vault does
// not send for a token, so a proxy in front of it rejected the request.
func isProxyRejection(err error) bool {
	var vaultErr *vault.Error
	return errors.As(err, &vaultErr) && vaultErr.Status == http.StatusUnauthorized
}

// defaultCredentialsHint is the hint after rejected credentials whose set
// is the default one, or is not known.
const defaultCredentialsHint = "check the credentials: VAULT_TOKEN, or the token, tokenFile and login settings of the credential set under secretStore"

// credentialHint returns the hint after the rejected credentials of err. It
// names the credential sets of the failures, unless a failure does not
// carry its set or every failure is of the default set.
func credentialHint(err error) string {
	sets := map[string]bool{}
	for _, e := range failures(err) {
		if singleExitCode(e) != ExitUnreachable {
			continue
		}
		var loginErr *engine.LoginError
		var tokenErr *engine.TokenError
		switch {
		case errors.As(e, &loginErr):
			sets[loginErr.Credentials] = true
		case errors.As(e, &tokenErr):
			sets[tokenErr.Credentials] = true
		default:
			return defaultCredentialsHint
		}
	}
	if len(sets) == 0 || (len(sets) == 1 && sets[""]) {
		return defaultCredentialsHint
	}
	var parts []string
	if sets[""] {
		parts = append(parts, "VAULT_TOKEN, or the token, tokenFile and login settings under secretStore")
	}
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		if name != "" {
			parts = append(parts, fmt.Sprintf("the settings of secretStore.credentials.%s", name))
		}
	}
	return "check the credentials: " + strings.Join(parts, ", and ")
}

// isConnectionFailure reports whether err is a request that got no
// response or a failed TLS handshake.
func isConnectionFailure(err error) bool {
	var vaultErr *vault.Error
	return errors.As(err, &vaultErr) && (vaultErr.Kind == vault.KindUnreachable || vaultErr.Kind == vault.KindTLS)
}

// isUnavailableFailure reports whether err is a response of a server that
// cannot serve now, such as a sealed server or a standby.
func isUnavailableFailure(err error) bool {
	var vaultErr *vault.Error
	return errors.As(err, &vaultErr) && vaultErr.Kind == vault.KindUnavailable
}

// isEmptyFailure reports whether err is an empty render that was not
// written over a non-empty file.
func isEmptyFailure(err error) bool {
	var emptyErr *sink.EmptyError
	return errors.As(err, &emptyErr)
}

// preferCode returns the code that wins when both kinds of failure happen:
// 2 before 3 before 4 before 5, and any of them before 1.
func preferCode(a, b int) int {
	if a == ExitInternal {
		return b
	}
	if b == ExitInternal {
		return a
	}
	return min(a, b)
}

func singleExitCode(err error) int {
	var (
		usage     *usageError
		tmplFile  *templateFileError
		invalid   *config.InvalidError
		readErr   *config.ReadError
		vaultErr  *vault.Error
		credErr   *vault.CredentialError
		renderErr *engine.RenderError
		emptyErr  *sink.EmptyError
		writeErr  *sink.WriteError
	)
	switch {
	case errors.As(err, &usage), errors.As(err, &tmplFile), errors.As(err, &invalid), errors.As(err, &readErr):
		return ExitUsage
	case errors.As(err, &vaultErr):
		switch vaultErr.Kind {
		case vault.KindNotFound, vault.KindForbidden, vault.KindInvalid:
			return ExitSecret
		default:
			return ExitUnreachable
		}
	case errors.As(err, &credErr):
		return ExitUnreachable
	case errors.As(err, &renderErr), errors.As(err, &emptyErr):
		return ExitSecret
	case errors.As(err, &writeErr):
		return ExitWrite
	}
	return ExitInternal
}

// hint returns one line on what to check after err, whose exit code is
// code.
func hint(code int, err error) string {
	switch code {
	case ExitUsage:
		var invalid *config.InvalidError
		var readErr *config.ReadError
		var tmplFile *templateFileError
		switch {
		case errors.As(err, &tmplFile) && tmplFile.Invalid:
			return "fix the syntax of the template file " + tmplFile.Path + " at the line that the error names"
		case errors.As(err, &tmplFile):
			return "check the path given to --template, and that this user may read the file"
		case errors.As(err, &invalid):
			return "fix the config file where the lines above point; secrets-sync validate checks it again without reading any secret"
		case errors.As(err, &readErr):
			return "check the config file's path (-c or CONFIG_FILE) and that this user may read it"
		}
		return "fix the command line; secrets-sync --help lists the commands, and secrets-sync COMMAND --help their flags"
	case ExitUnreachable:
		switch {
		case onlyFailuresOf(err, ExitUnreachable, isProxyRejection):
			return "check the user and password in the server address (VAULT_ADDR or secretStore.address), or the settings of the proxy in front of the server"
		case onlyFailuresOf(err, ExitUnreachable, isCredentialFailure):
			return credentialHint(err)
		case onlyFailuresOf(err, ExitUnreachable, isConnectionFailure):
			return "check the server address and its TLS settings: VAULT_ADDR and VAULT_CACERT, or address and tlsCACert under secretStore"
		case onlyFailuresOf(err, ExitUnreachable, isUnavailableFailure):
			return "the server responded but cannot serve now; check that it is unsealed and active, then run again"
		}
		return "check the server address, its TLS settings and the credentials (VAULT_ADDR, VAULT_TOKEN, secretStore)"
	case ExitSecret:
		if onlyFailuresOf(err, ExitSecret, isEmptyFailure) {
			return "the secret's field is empty, or the template renders nothing, and the file on disk is not, so it was kept; fill in the field, or set allowEmpty: true on the file if it may be empty"
		}
		return "check that each secret exists at its path, that the token's policy may read it, and that the templates name fields it has"
	case ExitWrite:
		return "check that the destination folders are writable by this user, and that owner/group are set only when running as root"
	}
	return ""
}
