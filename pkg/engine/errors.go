package engine

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// SecretError is the failure of one secret in a pass.
type SecretError struct {
	Secret string
	Err    error
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("secret %q: %v", e.Secret, e.Err)
}

func (e *SecretError) Unwrap() error { return e.Err }

// OutageError is the failure of a secret that fell due while the server was
// down, so it was not read. Err is the request that showed the outage, which
// may have been sent for another secret, a login or a probe, so the message
// gives only the server's part of it: the address, the HTTP status and the
// cause.
type OutageError struct {
	Err *vault.Error
}

func (e *OutageError) Error() string {
	state := "unreachable"
	if e.Err.Kind == vault.KindUnavailable {
		state = "unavailable"
	}
	msg := fmt.Sprintf("server %s %s", e.Err.Address, state)
	if e.Err.Status != 0 {
		msg += fmt.Sprintf(": %d %s", e.Err.Status, http.StatusText(e.Err.Status))
	}
	if e.Err.Err != nil {
		msg += ": " + e.Err.Err.Error()
	}
	return msg
}

// Unwrap returns the failed request, so that the error keeps its kind for
// metrics and exit codes.
func (e *OutageError) Unwrap() error { return e.Err }

// outageCause returns the server's part of err, a failure that showed the
// server down, as an *OutageError, or err itself when it holds no
// *vault.Error.
func outageCause(err error) error {
	var ve *vault.Error
	if errors.As(err, &ve) {
		return &OutageError{Err: ve}
	}
	return err
}

// RenderError is a file whose template or field could not be rendered with
// the secret's data.
type RenderError struct {
	Path string
	Err  error
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("render %s: %v", e.Path, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// PassError lists every secret that failed in a pass.
type PassError struct {
	Errors []error
}

func (e *PassError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, err := range e.Errors {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap gives errors.As access to each secret's error.
func (e *PassError) Unwrap() []error { return e.Errors }
