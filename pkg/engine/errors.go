package engine

import (
	"fmt"
	"strings"
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
