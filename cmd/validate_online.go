package cmd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/template"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// onlineCheck is the outcome of validate --online for one config file.
type onlineCheck struct {
	address string
	secrets int // secrets read
	files   int // files whose fields were checked
	// unread counts the secrets of engine generic, which are not read,
	// since a request may issue new credentials or a certificate.
	unread   int
	problems config.Problems
	failures []error // one per problem, for the exit code
}

func (o *onlineCheck) summary() string {
	if o.address == "" {
		return "online check not run"
	}
	text := fmt.Sprintf("online at %s: %s read, %s checked", o.address, plural(o.secrets, "secret"), plural(o.files, "file"))
	if o.unread > 0 {
		text += fmt.Sprintf(", %s of engine generic not read, because a request may issue new credentials or a certificate (sync checks their fields)",
			plural(o.unread, "secret"))
	}
	return text
}

func (o *onlineCheck) fail(file string, pos config.Position, path string, err error, format string, args ...any) {
	o.problems = append(o.problems, config.Problem{
		File: file, Line: pos.Line, Column: pos.Column, Path: path,
		Severity: config.SeverityError, Message: fmt.Sprintf(format, args...),
	})
	o.failures = append(o.failures, err)
}

// checkOnline logs in with each credential set that a secret uses, reads
// every secret, and checks that each field its files use exists. It renders
// templates in memory to find errors that the field list cannot show, and
// writes and prints nothing of what it reads. Tokens from a login are
// revoked before it returns.
func checkOnline(ctx context.Context, cfg *config.Config, opts passOptions) *onlineCheck {
	check := &onlineCheck{}
	client, err := vault.NewClient(cfg.Store, vault.Options{MaxConns: opts.concurrency})
	if err != nil {
		check.fail(cfg.File, cfg.Store.Auth.Pos, "secretStore", &usageError{err}, "%v; fix the TLS settings", err)
		return check
	}
	defer client.Close()
	check.address = client.Address()

	ctx, cancel := context.WithTimeoutCause(ctx, opts.timeout, fmt.Errorf("--timeout %s reached", opts.timeout))
	defer cancel()

	sessions := check.login(ctx, client, cfg)
	defer func() {
		revokeCtx, cancelRevoke := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancelRevoke()
		for _, s := range sessions {
			_ = s.Revoke(revokeCtx)
		}
	}()

	data := readAll(ctx, cfg.Secrets, sessions, opts.concurrency)
	for i, s := range cfg.Secrets {
		session := sessions[s.Credentials]
		if session == nil {
			continue // the login failure is reported once, at the set
		}
		path := fmt.Sprintf("secrets[%d]", i)
		if s.Engine == config.EngineGeneric {
			check.unread++
			continue
		}
		if err := data[i].err; err != nil {
			check.fail(cfg.File, s.Pos, joinKey(path, "key"), err, "secret %q: %v%s", s.Name, err, readHint(err))
			continue
		}
		check.secrets++
		for j, f := range s.Files {
			check.files++
			check.fields(cfg.File, fmt.Sprintf("%s.files[%d]", path, j), s, f, data[i].fields)
		}
	}
	return check
}

// login returns a session for every credential set that the secrets use,
// and records a problem for each set whose login fails.
func (o *onlineCheck) login(ctx context.Context, client *vault.Client, cfg *config.Config) map[string]*vault.Session {
	sessions := map[string]*vault.Session{}
	tried := map[string]bool{}
	for _, s := range cfg.Secrets {
		name := s.Credentials
		if tried[name] {
			continue
		}
		tried[name] = true
		auth, path := cfg.Store.Auth, "secretStore"
		if name != "" {
			auth, path = cfg.Store.Credentials[name], "secretStore.credentials."+name
		}
		namespace := ""
		switch {
		case auth.Namespace != nil:
			namespace = *auth.Namespace
		case cfg.Store.Namespace != nil:
			namespace = *cfg.Store.Namespace
		}
		if auth.SecretIDWrapped {
			// A wrapping token can be unwrapped once, and the sync that
			// runs later needs it.
			o.problems = append(o.problems, config.Problem{
				File: cfg.File, Line: auth.Pos.Line, Column: auth.Pos.Column, Path: path, Severity: config.SeverityWarning,
				Message: fmt.Sprintf("credentials %s are not used online, because their wrapped secret id can be unwrapped only once; the secrets that use them are not read", credentialsName(name)),
			})
			continue
		}
		session, err := client.Login(ctx, auth, namespace)
		if err != nil {
			o.fail(cfg.File, auth.Pos, path, err, "cannot log in with credentials %s: %v%s", credentialsName(name), err, loginHint(err))
			continue
		}
		sessions[name] = session
	}
	return sessions
}

type readResult struct {
	fields map[string]any
	err    error
}

// readAll reads every secret whose credential set has a session, at most
// concurrency at a time.
func readAll(ctx context.Context, secrets []config.Secret, sessions map[string]*vault.Session, concurrency int) []readResult {
	results := make([]readResult, len(secrets))
	limit := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, s := range secrets {
		session := sessions[s.Credentials]
		if session == nil || s.Engine == config.EngineGeneric {
			continue
		}
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-limit }()
			secret, err := session.Read(ctx, vault.Request{
				Mount: s.Mount, Path: s.Path, KVVersion: s.KVVersion, Version: s.Version, Namespace: s.Namespace,
			})
			if err != nil {
				results[i].err = err
				return
			}
			results[i].fields = secret.Data
		}()
	}
	wg.Wait()
	return results
}

// fields checks that the secret has every field that the file uses, and
// that the file's template renders with it. The rendered bytes are dropped.
func (o *onlineCheck) fields(file, path string, s config.Secret, f config.File, data map[string]any) {
	where := fmt.Sprintf("secret %q (%s)", s.Name, vault.KVPath(s.Mount, s.Path, s.KVVersion))
	renderErr := func(err error) error { return &engine.RenderError{Path: f.Dest, Err: err} }
	if f.Field != "" {
		_, err := template.FieldValue(data, f.Field)
		var missing *template.MissingFieldError
		switch {
		case errors.As(err, &missing):
			o.fail(file, f.Pos, joinKey(path, "field"), renderErr(err),
				"%s has no field %q%s; change field, or add the field to the secret", where, f.Field, available(missing.Available))
		case err != nil:
			o.fail(file, f.Pos, joinKey(path, "field"), renderErr(err), "%s: %v", where, err)
		}
		return
	}
	if f.Tmpl == nil {
		return
	}
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	missing := false
	for _, name := range f.Tmpl.Fields() {
		if _, ok := data[name]; !ok {
			missing = true
			o.fail(file, f.Pos, path, renderErr(&template.MissingFieldError{Field: name, Available: names}),
				"%s has no field %q, which the template of %s uses%s; fix the template, or add the field to the secret", where, name, f.Dest, available(names))
		}
	}
	if missing {
		return
	}
	if _, err := f.Tmpl.Render(data); err != nil {
		o.fail(file, f.Pos, path, renderErr(err),
			"%s: the template of %s cannot render: %v; fix the template, or the data of the secret", where, f.Dest, err)
	}
}

// available formats a secret's field names for a message. Names are shown
// because only the values are secret.
func available(names []string) string {
	if len(names) == 0 {
		return " (the secret has no fields)"
	}
	const maxListed = 20
	list, more := names, ""
	if len(list) > maxListed {
		list, more = list[:maxListed], fmt.Sprintf(" and %d more", len(names)-maxListed)
	}
	return " (its fields: " + strings.Join(list, ", ") + more + ")"
}

func joinKey(path, key string) string { return path + "." + key }

func credentialsName(name string) string {
	if name == "" {
		return "under secretStore"
	}
	return fmt.Sprintf("%q", name)
}

// loginHint returns what to check after a failed login.
func loginHint(err error) string {
	var ve *vault.Error
	if errors.As(err, &ve) {
		switch ve.Kind {
		case vault.KindUnreachable:
			return "; check the address and that the server is running"
		case vault.KindTLS:
			return "; check tlsCACert, tlsServerName and the server's certificate"
		}
	}
	return ""
}

// readHint returns what to check after a failed read, where the server's
// message lacks it.
func readHint(err error) string {
	var ve *vault.Error
	if errors.As(err, &ve) && ve.Kind == vault.KindForbidden {
		return "; allow read on this path in the token's policy, or use other credentials"
	}
	return loginHint(err)
}
