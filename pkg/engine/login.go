package engine

import (
	"context"
	"fmt"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// Sessions are the logged-in credential sets of a pass.
type Sessions struct {
	Readers map[string]Reader
	Errors  map[string]error // login failures by credential set name
	opened  []*vault.Session
}

// Login obtains a token for every credential set that the secrets use,
// retrying transient failures until the context ends. A set whose login
// fails is recorded in Errors as a *LoginError, and the others are still
// logged in.
func (p *Pass) Login(ctx context.Context, client *vault.Client, store config.Store, secrets []config.Secret) *Sessions {
	s := &Sessions{Readers: map[string]Reader{}, Errors: map[string]error{}}
	seen := map[string]bool{}
	for _, sec := range secrets {
		name := sec.Credentials
		if seen[name] {
			continue
		}
		seen[name] = true
		auth := store.Auth
		if name != "" {
			auth = store.Credentials[name]
		}
		namespace := ""
		switch {
		case auth.Namespace != nil:
			namespace = *auth.Namespace
		case store.Namespace != nil:
			namespace = *store.Namespace
		}
		session, err := p.login(ctx, client, auth, namespace)
		if err != nil {
			p.opts.Logger.Error("login failed", "credentials", config.CredentialsName(name), "address", client.Address(), "err", err)
			s.Errors[name] = &LoginError{Credentials: name, Err: err}
			continue
		}
		p.opts.Logger.Debug("logged in", "credentials", config.CredentialsName(name), "method", auth.Method)
		s.Readers[name] = session
		s.opened = append(s.opened, session)
	}
	return s
}

func (p *Pass) login(ctx context.Context, client *vault.Client, auth config.Auth, namespace string) (*vault.Session, error) {
	return retryTransient(ctx, p.opts, func(n uint, err error) {
		p.logRetry(ctx, n, "login failed, retrying", "address", client.Address(), "attempt", n+1, "err", err)
	}, func() (*vault.Session, error) {
		return client.Login(ctx, auth, namespace)
	})
}

// Revoke revokes the tokens that this process obtained by logging in. A
// token the process was given is left alone.
func (s *Sessions) Revoke(ctx context.Context, logger *log.Logger) []error {
	var errs []error
	for _, session := range s.opened {
		if session.LoggedIn() && session.HasLeases() {
			logger.Info("token kept, it holds leases that revoking it would end", "credentials", config.CredentialsName(session.Name()))
			continue
		}
		if err := session.Revoke(ctx); err != nil {
			errs = append(errs, fmt.Errorf("revoke token of credentials %s: %w", config.CredentialsName(session.Name()), err))
		}
	}
	return errs
}
