package cmd

import (
	"errors"
	"fmt"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

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
	pass := func(errs ...error) error {
		wrapped := make([]error, len(errs))
		for i, err := range errs {
			wrapped[i] = &engine.SecretError{Secret: fmt.Sprint("s", i), Err: err}
		}
		return &engine.PassError{Errors: wrapped}
	}
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
		{"unreachable", pass(unreachable), 3},
		{"auth denied", pass(authDenied), 3},
		{"tls", pass(tlsFailed), 3},
		{"sealed", pass(sealed), 3},
		{"credential file", pass(&vault.CredentialError{What: "token"}), 3},
		{"not found", pass(notFound), 4},
		{"forbidden", pass(forbidden), 4},
		{"render", pass(render), 4},
		{"empty", pass(empty), 4},
		{"write", pass(write), 5},
		{"3 before 4 and 5", pass(write, notFound, unreachable), 3},
		{"4 before 5", pass(write, render), 4},
		{"known before unknown", pass(errors.New("boom"), write), 5},
		{"reported wrapper", &reportedError{err: pass(notFound)}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ExitCode(c.err); got != c.want {
				t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
}
