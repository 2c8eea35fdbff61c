package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// Token upkeep timing.
const (
	// renewFraction is the part of a token's TTL after which it is renewed
	// or replaced.
	renewFraction = 2.0 / 3.0
	// tokenFilePoll is how often a token file is read for a new token.
	tokenFilePoll = 10 * time.Second
	// tokenFilePollBroken is the same while the current token is known to
	// be invalid, so a new one is picked up soon.
	tokenFilePollBroken = 2 * time.Second
	// minTokenCheck is the least time between two lookups of the token
	// that failed reads ask for.
	minTokenCheck = 5 * time.Second
	// revokeTimeout bounds the revocation of a token this process owns.
	revokeTimeout = 10 * time.Second
	// maxTokenBackoff caps the wait between failed renewals and logins.
	maxTokenBackoff = time.Minute
)

// LoginError is the failed login of a credential set. The secrets that use
// the set fail with it, without a read.
type LoginError struct {
	Credentials string
	Err         error
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("log in with credentials %s: %v", config.CredentialsName(e.Credentials), e.Err)
}

func (e *LoginError) Unwrap() error { return e.Err }

// TokenError is a token that the server no longer accepts, while no new
// one is available. The secrets that use the credential set fail with it,
// without a read.
type TokenError struct {
	Credentials string
	Err         error
	Hint        string
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token of credentials %s is no longer valid: %v; %s", config.CredentialsName(e.Credentials), e.Err, e.Hint)
}

func (e *TokenError) Unwrap() error { return e.Err }

// sessionRef is one session in use, with the reads in flight on it, so its
// token is revoked only after they end.
type sessionRef struct {
	session  *vault.Session
	inFlight sync.WaitGroup
}

// credential is one credential set of a watch: its current session, the
// login that obtains it, and the goroutine that keeps its token valid. It
// implements Reader for the secrets that use the set.
type credential struct {
	name      string
	auth      config.Auth
	namespace string
	client    *vault.Client
	logger    *log.Logger
	tokens    TokenObserver
	breaker   *breaker
	// restored notifies the watcher that the set works again, so that
	// its failed secrets are read at once.
	restored func(name string)

	ctx    context.Context // ends when the set is stopped
	cancel context.CancelFunc
	done   chan struct{} // closed when the keeper goroutine has ended
	check  chan struct{} // requests a lookup of the token from the keeper

	loginMu sync.Mutex // one login at a time

	mu            sync.Mutex
	current       *sessionRef // nil until the first login
	keeping       bool
	tokenErr      *TokenError
	loginErr      error
	loginFailures int
	loginRetryAt  time.Time
	lastCheck     time.Time
}

func newCredential(ctx context.Context, name string, store config.Store, client *vault.Client, w *Watcher, restored func(string)) *credential {
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
	ctx, cancel := context.WithCancel(ctx)
	return &credential{
		name:      name,
		auth:      auth,
		namespace: namespace,
		client:    client,
		logger:    w.opts.Logger,
		tokens:    w.opts.Tokens,
		breaker:   w.breaker,
		restored:  restored,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		check:     make(chan struct{}, 1),
	}
}

// displayName is the set's name in logs and for the TokenObserver.
func (c *credential) displayName() string { return config.CredentialsName(c.name) }

// canLogin reports whether a new token can be had by logging in again with
// the same auth, as every method but token can, rather than only by
// reading a token file again.
func (c *credential) canLogin() bool { return c.auth.LogsIn() }

// Read reads with the current session. It fails without a request while
// the set has no working token.
func (c *credential) Read(ctx context.Context, req vault.Request) (*vault.Secret, error) {
	ref, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer ref.inFlight.Done()
	return ref.session.Read(ctx, req)
}

func (c *credential) acquire() (*sessionRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenErr != nil {
		return nil, c.tokenErr
	}
	if c.current == nil {
		if c.loginErr != nil {
			return nil, c.loginErr
		}
		return nil, &LoginError{Credentials: c.name, Err: errors.New("not logged in yet")}
	}
	c.current.inFlight.Add(1)
	return c.current, nil
}

// session returns the current session, nil before the first login.
func (c *credential) session() *vault.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == nil {
		return nil
	}
	return c.current.session
}

// ensure logs in unless the set has a session already. After a failed
// login it sends no request until the set's own backoff has passed, and
// returns the last failure meanwhile; force skips that wait.
func (c *credential) ensure(ctx context.Context, force bool) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	if c.current != nil {
		c.mu.Unlock()
		return nil
	}
	if !force && c.loginErr != nil && time.Now().Before(c.loginRetryAt) {
		err := c.loginErr
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()

	session, err := c.client.Login(ctx, c.auth, c.namespace)
	if err != nil {
		return c.loginFailed(err)
	}
	info := session.Token()
	c.logger.Info("logged in", "credentials", c.displayName(), "method", c.auth.Method, "ttl", ttlValue(info.TTL))
	c.install(session)
	return nil
}

// loginFailed records a failed first login, reports the set as without a
// valid token, and returns the failure as a *LoginError. An outage is left
// to the watcher, which reports it once for the server. Other failures are
// logged here, once for the set. Repeats go to debug level, except every
// tenth.
func (c *credential) loginFailed(err error) error {
	c.mu.Lock()
	c.loginFailures++
	n := c.loginFailures
	sameAsBefore := c.loginErr != nil && errors.Unwrap(c.loginErr).Error() == err.Error()
	delay := backoff{base: DefaultMinBackoff, max: maxTokenBackoff}.delay(n, rand.Float64())
	c.loginRetryAt = time.Now().Add(delay)
	loginErr := &LoginError{Credentials: c.name, Err: err}
	c.loginErr = loginErr
	c.mu.Unlock()

	if c.ctx.Err() != nil {
		c.logger.Debug("login failed", "credentials", c.displayName(), "attempt", n, "err", err)
		return loginErr
	}
	c.tokens.TokenInvalid(c.displayName())
	if isOutage(err) {
		c.logger.Debug("login failed", "credentials", c.displayName(), "attempt", n, "err", err)
		return loginErr
	}
	c.tokens.TokenError(c.displayName(), loginErr)
	level := log.DebugLevel
	if !sameAsBefore || n%10 == 0 {
		level = log.ErrorLevel
	}
	c.logger.Log(level, "login failed", "credentials", c.displayName(), "address", c.client.Address(),
		"attempt", n, "retry_in", delay.Round(time.Second), "err", err)
	return loginErr
}

// install makes session the current one and starts the keeper on the
// first login. A replaced session's token is revoked, once the reads in
// flight on it have ended, when this process obtained it by logging in.
func (c *credential) install(session *vault.Session) {
	c.mu.Lock()
	old := c.current
	c.current = &sessionRef{session: session}
	c.loginErr = nil
	c.loginFailures = 0
	hadTokenErr := c.tokenErr != nil
	c.tokenErr = nil
	startKeeper := !c.keeping
	c.keeping = true
	c.mu.Unlock()

	c.tokens.TokenTTL(c.displayName(), session.Token().Remaining(time.Now()))
	c.tokens.TokenError(c.displayName(), nil)
	if hadTokenErr {
		c.logger.Info("token valid again", "credentials", c.displayName())
		c.restored(c.name)
	}
	if startKeeper {
		go c.keep()
	}
	if old != nil && old.session.LoggedIn() {
		go c.revoke(old)
	}
}

// revoke revokes the token of ref after the reads in flight on it end.
// Revoking the old token, rather than leaving it to expire, keeps only one
// token of this process alive at a time.
func (c *credential) revoke(ref *sessionRef) {
	ref.inFlight.Wait()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), revokeTimeout)
	defer cancel()
	if err := ref.session.Revoke(ctx); err != nil {
		var ve *vault.Error
		if errors.As(err, &ve) && ve.Kind == vault.KindForbidden {
			// The server rejects the token itself: it has expired or
			// was revoked already.
			c.logger.Debug("token not revoked, it is no longer valid", "credentials", c.displayName(), "err", err)
			return
		}
		c.logger.Warn("token not revoked", "credentials", c.displayName(), "err", err)
		return
	}
	if ref.session.HasLeases() {
		c.logger.Debug("token kept, it holds leases that revoking it would end", "credentials", c.displayName())
		return
	}
	c.logger.Debug("token revoked", "credentials", c.displayName())
}

// requestCheck requests a lookup of the token from the keeper, because a
// read was denied. Requests closer together than minTokenCheck are dropped.
func (c *credential) requestCheck() {
	c.mu.Lock()
	if time.Since(c.lastCheck) < minTokenCheck || !c.keeping {
		c.mu.Unlock()
		return
	}
	c.lastCheck = time.Now()
	c.mu.Unlock()
	select {
	case c.check <- struct{}{}:
	default:
	}
}

// stop ends the keeper and, when revoke is set, revokes the token this
// process obtained by logging in.
func (c *credential) stop(revoke bool) {
	c.cancel()
	c.mu.Lock()
	keeping := c.keeping
	current := c.current
	c.mu.Unlock()
	if keeping {
		<-c.done
	}
	if revoke && current != nil && current.session.LoggedIn() {
		c.revoke(current)
	}
}

// tokenAction is the next step of the keeper.
type tokenAction int

const (
	// tokenWait: the token never expires; only a token file is watched.
	tokenWait tokenAction = iota
	// tokenRenew: renew the token with renew-self.
	tokenRenew
	// tokenLogin: log in again for a new token.
	tokenLogin
	// tokenVerify: look the token up, because it may have expired.
	tokenVerify
)

func (a tokenAction) String() string {
	switch a {
	case tokenRenew:
		return "renew"
	case tokenLogin:
		return "log in again"
	case tokenVerify:
		return "look up"
	}
	return "wait"
}

// planToken returns the keeper's next step for a token and when to take
// it. A renewable token is renewed at two thirds of its TTL, until a
// renewal grants less than requested (capped), which means its max TTL is
// near. Then, or when it is not renewable, a set that can log in does so
// again: at once when capped, else at two thirds of the TTL. A token that
// can only be given is looked up when it expires.
func planToken(info vault.TokenInfo, canLogin, capped bool) (tokenAction, time.Time) {
	if info.TTL <= 0 {
		return tokenWait, time.Time{}
	}
	at := info.Checked.Add(time.Duration(float64(info.TTL) * renewFraction))
	switch {
	case info.Renewable && !capped:
		return tokenRenew, at
	case canLogin && capped:
		return tokenLogin, info.Checked
	case canLogin:
		return tokenLogin, at
	}
	return tokenVerify, info.ExpiresAt()
}

// keeper is the state of the goroutine that keeps one set's token valid.
type keeper struct {
	c        *credential
	capped   bool // the last renewal was cut short by the max TTL
	failures int  // consecutive failed steps
	retryAt  time.Time
	warned   bool // the coming expiry of a token that cannot be renewed was logged
}

// keep renews, replaces and checks the set's token until the set stops.
func (c *credential) keep() {
	defer close(c.done)
	k := &keeper{c: c}
	for {
		action, at := k.next()
		scheduled := !at.IsZero()
		wait := max(time.Until(at), 0)
		if poll := k.filePoll(); poll > 0 && (!scheduled || poll < wait) {
			scheduled, wait, action = true, poll, tokenWait
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if scheduled {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.check:
			action = tokenVerify
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		// While the server is down, wait for it, instead of adding a
		// request of each set to the probes.
		select {
		case <-c.ctx.Done():
			return
		case <-c.breaker.Closed():
		}
		k.step(action)
	}
}

// next returns the keeper's next action, or a retry after a failed step.
func (k *keeper) next() (tokenAction, time.Time) {
	session := k.c.session()
	action, at := planToken(session.Token(), k.c.canLogin(), k.capped)
	if k.failures > 0 && k.retryAt.After(at) {
		at = k.retryAt
	}
	if k.c.brokenToken() {
		// Nothing but a new token helps: a login, or a token file poll.
		if k.c.canLogin() {
			return tokenLogin, k.retryAt
		}
		return tokenWait, time.Time{}
	}
	return action, at
}

// filePoll returns the wait before the token file is read again, or 0
// when the set has no token file.
func (k *keeper) filePoll() time.Duration {
	if k.c.auth.Method != config.AuthToken || k.c.auth.TokenFile == "" {
		return 0
	}
	if k.c.brokenToken() {
		return tokenFilePollBroken
	}
	return tokenFilePoll
}

func (c *credential) brokenToken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokenErr != nil
}

// step runs one action. A token file that holds a new token wins over any
// action, since it replaces the token.
func (k *keeper) step(action tokenAction) {
	c := k.c
	ctx, cancel := context.WithTimeout(c.ctx, DefaultRoundTimeout)
	defer cancel()
	if k.tokenFileChanged() {
		k.relogin(ctx, "the token file changed")
		return
	}
	switch action {
	case tokenRenew:
		k.renew(ctx)
	case tokenLogin:
		k.relogin(ctx, "the token reaches its max TTL or cannot be renewed")
	case tokenVerify:
		k.verify(ctx)
	}
}

func (k *keeper) tokenFileChanged() bool {
	c := k.c
	if c.auth.Method != config.AuthToken || c.auth.TokenFile == "" {
		return false
	}
	changed, err := c.session().TokenFileChanged(c.auth.TokenFile)
	if err != nil {
		c.logger.Debug("token file not read", "credentials", c.displayName(), "file", c.auth.TokenFile, "err", err)
		return false
	}
	return changed
}

func (k *keeper) renew(ctx context.Context) {
	c := k.c
	info, err := c.session().RenewSelf(ctx)
	if err != nil {
		if !renewalRefused(err) && k.transient(err, "token renewal failed") {
			// A login is as cheap as a renewal, so a token that is
			// about to expire is replaced rather than renewed late.
			if current := c.session().Token(); c.canLogin() && current.Remaining(time.Now()) < current.Increment/3 {
				k.relogin(ctx, "the token expires soon and renewal failed")
			}
			return
		}
		// The server refused: the token is past its max TTL, was
		// revoked, or may not renew itself. A set that can log in
		// expects this at its max TTL.
		level := log.WarnLevel
		if c.canLogin() {
			level = log.InfoLevel
		}
		c.logger.Log(level, "token renewal refused", "credentials", c.displayName(), "err", err)
		k.capped = true
		if c.canLogin() {
			k.relogin(ctx, "the renewal was refused")
			return
		}
		k.verify(ctx)
		return
	}
	k.failures = 0
	k.capped = info.Increment > 0 && info.TTL < info.Increment
	c.tokens.TokenTTL(c.displayName(), info.TTL)
	c.logger.Info("token renewed", "credentials", c.displayName(), "ttl", info.TTL)
	if k.capped && !c.canLogin() && !k.warned {
		k.warned = true
		c.logger.Warn("token reaches its max TTL and cannot be renewed further", "credentials", c.displayName(),
			"expires", info.ExpiresAt().UTC().Format(time.RFC3339), "hint", k.hint())
	}
}

// renewalRefused reports whether a failed renewal will not succeed when
// tried again. Vault 1.13 responds to a renewal past the max TTL with a
// 500 and the message "past the max TTL, cannot renew", which would
// otherwise count as transient.
func renewalRefused(err error) bool {
	if !vault.IsTransient(err) {
		return true
	}
	var ve *vault.Error
	return errors.As(err, &ve) && ve.Err != nil && strings.Contains(ve.Err.Error(), "past the max TTL")
}

// relogin obtains a new token: a login for AppRole, or the token file read
// again and looked up for a token set.
func (k *keeper) relogin(ctx context.Context, reason string) {
	c := k.c
	session, err := c.client.Login(ctx, c.auth, c.namespace)
	if err != nil {
		if k.transient(err, "login failed") {
			return
		}
		k.failures++
		k.retryAt = time.Now().Add(backoff{base: DefaultMinBackoff, max: maxTokenBackoff}.delay(k.failures, rand.Float64()))
		level := log.DebugLevel
		if k.failures == 1 || k.failures%10 == 0 {
			level = log.ErrorLevel
		}
		c.logger.Log(level, "login failed", "credentials", c.displayName(), "reason", reason, "attempt", k.failures, "err", err)
		// The current token keeps serving reads until it expires.
		if current := c.session().Token(); current.TTL > 0 && current.Remaining(time.Now()) == 0 {
			k.broken(err)
		}
		return
	}
	k.failures = 0
	k.capped = false
	k.warned = false
	info := session.Token()
	c.logger.Info("logged in again", "credentials", c.displayName(), "reason", reason, "ttl", ttlValue(info.TTL))
	c.install(session)
}

// verify looks the token up. A token the server rejects is replaced by a
// login, or, for a given token, marks the set broken until a new token is
// in its file.
func (k *keeper) verify(ctx context.Context) {
	c := k.c
	info, err := c.session().LookupSelf(ctx)
	if err == nil {
		k.failures = 0
		c.tokens.TokenTTL(c.displayName(), info.TTL)
		return
	}
	if k.transient(err, "token lookup failed") {
		return
	}
	if c.canLogin() {
		before := c.session()
		k.relogin(ctx, "the token is no longer valid")
		if c.session() == before {
			k.broken(err)
		}
		return
	}
	k.broken(err)
}

// broken marks the set's token invalid, with one error line.
func (k *keeper) broken(err error) {
	c := k.c
	c.mu.Lock()
	first := c.tokenErr == nil
	tokenErr := &TokenError{Credentials: c.name, Err: err, Hint: k.hint()}
	c.tokenErr = tokenErr
	c.mu.Unlock()
	c.tokens.TokenError(c.displayName(), tokenErr)
	c.tokens.TokenInvalid(c.displayName())
	if first {
		c.logger.Error("token no longer valid, secrets of this credential set are not read", "credentials", c.displayName(),
			"err", err, "hint", k.hint())
	}
}

// hint returns where a new token can come from.
func (k *keeper) hint() string {
	switch {
	case k.c.canLogin():
		return vault.CredentialHint(k.c.auth)
	case k.c.auth.TokenFile != "":
		return "write a new token to " + k.c.auth.TokenFile + "; it is read again every few seconds"
	}
	return "give a new token in the config file and reload, or restart with a new VAULT_TOKEN"
}

// transient handles a failure that a retry may fix by scheduling the
// retry, and returns false for other failures. It leaves the breaker to
// the watcher's rounds, which notice an outage within a refresh interval;
// the keeper then waits for the breaker to close.
func (k *keeper) transient(err error, msg string) bool {
	if !vault.IsTransient(err) {
		return false
	}
	c := k.c
	k.failures++
	remaining := c.session().Token().Remaining(time.Now())
	ceiling := maxTokenBackoff
	if remaining > 0 {
		ceiling = min(ceiling, max(remaining/3, DefaultMinBackoff))
	}
	k.retryAt = time.Now().Add(backoff{base: DefaultMinBackoff, max: ceiling}.delay(k.failures, rand.Float64()))
	c.logger.Debug(msg, "credentials", c.displayName(), "attempt", k.failures, "err", err)
	return true
}

// ttlValue returns a token TTL for a log line: the duration, or "never
// expires" for the 0 that the server gives a token without a TTL, such as
// a root token.
func ttlValue(ttl time.Duration) any {
	if ttl == 0 {
		return "never expires"
	}
	return ttl
}
