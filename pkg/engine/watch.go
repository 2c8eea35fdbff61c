package engine

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// outageReminder is how often a server outage is logged again while it
// lasts.
const outageReminder = 5 * time.Minute

// HookRunner runs a secret's onChange after its files changed. Notify must
// not block: the runner queues the run.
type HookRunner interface {
	Notify(secret string, onChange *config.OnChange, changed []string)
}

// WatchOptions tune a Watcher. Zero values take the defaults.
type WatchOptions struct {
	// Concurrency bounds the reads in flight of one round.
	Concurrency int
	Logger      *log.Logger
	// Observer receives each read and each secret's outcome.
	Observer Observer
	// Tokens receives the TTL and failures of each credential set's token.
	Tokens TokenObserver
	// Hooks runs the onChange of each secret whose files changed.
	Hooks HookRunner
	// RoundDone is called after the results of each round are applied,
	// and after each failed probe of a server that is down, from the
	// watcher's goroutine, for example to write a status file.
	RoundDone func()
	// Reloading is called from the watcher's goroutine with a reloaded
	// config once it has passed the watcher's checks, just before its
	// secrets start, so that the caller can track them from their first
	// read.
	Reloading func(cfg *config.Config)
	// RoundTimeout bounds one round: its logins, reads and writes.
	RoundTimeout time.Duration
	// Jitter is the fraction by which refresh intervals vary at random.
	Jitter float64
	// MinBackoff and MaxBackoff bound the wait before a failed secret is
	// read again. The wait doubles with each failure and never exceeds
	// the secret's refresh interval either.
	MinBackoff, MaxBackoff time.Duration
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.Concurrency < 1 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Logger == nil {
		o.Logger = log.New(io.Discard)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Tokens == nil {
		o.Tokens = nopTokenObserver{}
	}
	if o.RoundTimeout <= 0 {
		o.RoundTimeout = DefaultRoundTimeout
	}
	if o.Jitter <= 0 {
		o.Jitter = DefaultJitter
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	return o
}

// Watcher keeps the files of a config fresh: after a first pass over every
// secret, each secret is read again on its own refresh interval, with
// jitter. Secrets due together share identical reads. A failed secret is
// retried with capped exponential backoff while the others keep their
// schedule, and its last good files stay. When the server is down, a
// breaker holds every secret back and probes the server once per backoff
// step. Tokens are renewed or replaced before they expire.
type Watcher struct {
	opts    WatchOptions
	pass    *Pass
	breaker *breaker
	reloads chan *config.Config
	events  chan event
}

// NewWatcher prepares a watcher that hands rendered files to s.
func NewWatcher(s sink.Sink, opts WatchOptions) *Watcher {
	opts = opts.withDefaults()
	pass := NewPass(s, Options{
		Concurrency:   opts.Concurrency,
		Logger:        opts.Logger,
		Observer:      opts.Observer,
		Attempts:      1,
		QuietFailures: true,
	})
	pass.leases = newLeaseBook()
	return &Watcher{
		opts:    opts,
		pass:    pass,
		breaker: newBreaker(backoff{base: opts.MinBackoff, max: maxProbeBackoff}, time.Now, rand.Float64),
		reloads: make(chan *config.Config, 1),
		events:  make(chan event, 16),
	}
}

// Reload replaces the running config with cfg: new secrets start, removed
// ones stop with their files left in place, and changed ones start over.
// A change of the server, TLS or credential settings builds a new client
// and logs in again. The newest config wins when several arrive at once.
func (w *Watcher) Reload(cfg *config.Config) {
	for {
		select {
		case w.reloads <- cfg:
			return
		default:
		}
		select {
		case <-w.reloads:
		default:
		}
	}
}

// event is a message to the watcher's goroutine.
type event interface{}

// roundDone carries one round: its entries, their generations and
// configs when it started, and its report.
type roundDone struct {
	batch   []*entry
	gens    []int
	secrets []config.Secret
	report  *Report
}

// probeDone carries the outcome of one probe of a server that was down.
type probeDone struct {
	conn *connection
	err  error
}

// credentialRestored reports that a credential set works again.
type credentialRestored struct {
	conn *connection
	name string
}

// entry is the schedule of one secret. Only the watcher's goroutine
// touches it.
type entry struct {
	secret config.Secret
	// key is the read key of secret, computed on first use; "" until then.
	key  string
	gen  int // counts restarts, so results of an earlier config are dropped
	next time.Time
	// early is how long before next the entry may join a round that
	// starts: earlyShare of the jitter of the wait that set next.
	early   time.Duration
	running bool
	removed bool
	// held is set once the entry fell due while the server was down and
	// its failure was reported, so the report is not repeated.
	held     bool
	failures int
	lastErr  string
	// expiry is when the data of the last good read expires; nil when
	// nothing in it does.
	expiry *Expiry
}

// connection is the client of one server config with its credential sets.
type connection struct {
	store  config.Store
	client *vault.Client
	creds  map[string]*credential
}

// state is the data that only the watcher's goroutine touches.
type state struct {
	ctx       context.Context
	conn      *connection
	entries   []*entry // in config order
	inFlight  int      // rounds and probes that have not reported back
	firstDone bool     // the first round, over every secret, has reported
	// outage bookkeeping, for the log
	lastOutageLog time.Time
	// outageErr is the server's part of the last failure that showed the
	// server down, an *OutageError, which the secrets held back report.
	outageErr error
}

// Run syncs cfg until ctx ends, then waits for the writes in flight,
// revokes the tokens it obtained by logging in, and returns nil. It
// returns an error only when the first client cannot be built. A Watcher
// runs once.
func (w *Watcher) Run(ctx context.Context, cfg *config.Config) error {
	st := &state{ctx: ctx}
	conn, err := w.connect(cfg.Store)
	if err != nil {
		return err
	}
	st.conn = conn
	now := time.Now()
	for _, s := range cfg.Secrets {
		st.entries = append(st.entries, &entry{secret: s, next: now})
	}

	for {
		w.startDue(st)
		var wake <-chan time.Time
		var timer *time.Timer
		if at, ok := w.nextWake(st); ok {
			timer = time.NewTimer(max(time.Until(at), 0))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			w.shutdown(st)
			return nil
		case <-wake:
		case cfg := <-w.reloads:
			w.apply(st, cfg)
		case ev := <-w.events:
			w.handle(st, ev)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// connect builds a client for store. Credential sets log in when a round
// first needs them.
func (w *Watcher) connect(store config.Store) (*connection, error) {
	client, err := vault.NewClient(store, vault.Options{MaxConns: w.opts.Concurrency, Logger: w.opts.Logger})
	if err != nil {
		return nil, err
	}
	return &connection{store: store, client: client, creds: map[string]*credential{}}, nil
}

// credential returns the credential set name of conn, creating it on
// first use.
func (w *Watcher) credential(st *state, conn *connection, name string) *credential {
	c, ok := conn.creds[name]
	if !ok {
		c = newCredential(st.ctx, name, conn.store, conn.client, w, func(name string) {
			select {
			case w.events <- credentialRestored{conn: conn, name: name}:
			case <-st.ctx.Done():
			}
		})
		conn.creds[name] = c
	}
	return c
}

// nextWake returns when the next secret falls due or the next probe may
// go, and false when nothing is scheduled. While the server is down, a
// secret that falls due is only reported as held back, once.
func (w *Watcher) nextWake(st *state) (time.Time, bool) {
	open, probeAt, _ := w.breaker.State()
	at := probeAt
	for _, e := range st.entries {
		if e.running || (open && e.held) {
			continue
		}
		if at.IsZero() || e.next.Before(at) {
			at = e.next
		}
	}
	return at, !at.IsZero()
}

// startDue starts a round of the secrets that are due, or, while the
// server is down, a probe when one may go.
func (w *Watcher) startDue(st *state) {
	if open, _, _ := w.breaker.State(); open {
		w.holdDue(st)
		if ok, probe := w.breaker.Allow(); ok && probe {
			creds := make([]*credential, 0, len(st.conn.creds))
			for _, c := range st.conn.creds {
				creds = append(creds, c)
			}
			st.inFlight++
			go w.probe(st.ctx, st.conn, creds)
		}
		return
	}
	batch := selectDue(st.entries, time.Now(), w.opts.Jitter)
	if len(batch) == 0 {
		return
	}
	gens := make([]int, len(batch))
	secrets := make([]config.Secret, len(batch))
	creds := map[string]*credential{}
	for i, e := range batch {
		e.running = true
		gens[i] = e.gen
		secrets[i] = e.secret
		creds[e.secret.Credentials] = w.credential(st, st.conn, e.secret.Credentials)
	}
	st.inFlight++
	go w.round(st.ctx, creds, roundDone{batch: batch, gens: gens, secrets: secrets})
}

// holdDue reports each secret that falls due while the server is down as
// failed with the outage, once per outage, so that the status shows it
// failing and its maxStale counts. The observer gets the outage's cause
// without the secret's name, like the error of a secret that was read,
// because the status and /readyz put the name before it.
func (w *Watcher) holdDue(st *state) {
	now := time.Now()
	held := false
	for _, e := range st.entries {
		if e.running || e.held || e.next.After(now) {
			continue
		}
		e.held = true
		e.failures++
		w.opts.Observer.SecretDone(e.secret.Name, nil, st.outageErr)
		held = true
	}
	if held && w.opts.RoundDone != nil {
		w.opts.RoundDone()
	}
}

// readKey returns the read key of the entry's secret.
func (e *entry) readKey() string {
	if e.key == "" {
		e.key = readKey(e.secret)
	}
	return e.key
}

// earlyShare is the share of its jitter by which a secret may be read
// early: with the default jitter of 10%, 1% of the wait before it falls
// due. Secrets that the jitter spread apart then share rounds.
const earlyShare = 0.1

// schedule sets the entry's next read to next, and how early it may join a
// round from the wait between now and next. The wait may be the refresh
// interval, a shorter one set by a lease or certificate, or a backoff.
func (e *entry) schedule(now, next time.Time, jitter float64) {
	e.next = next
	e.early = time.Duration(earlyShare * jitter * float64(next.Sub(now)))
}

// selectDue returns the entries due at now, in config order, and with them
// the entries that share a read with one of them and would fall due within
// their jitter span anyway, so the read is sent once. An entry due within
// its early span after now counts as due.
func selectDue(entries []*entry, now time.Time, jitter float64) []*entry {
	var due []*entry
	keys := map[string]bool{}
	picked := map[*entry]bool{}
	for _, e := range entries {
		if !e.running && !e.next.After(now.Add(e.early)) {
			due = append(due, e)
			picked[e] = true
			keys[e.readKey()] = true
		}
	}
	if len(due) == 0 {
		return nil
	}
	for _, e := range entries {
		if e.running || picked[e] || !keys[e.readKey()] {
			continue
		}
		// Entries whose data expires go with their read at once: they
		// share its lease or certificate, which a new read replaces.
		window := time.Duration(2 * jitter * float64(e.secret.Refresh))
		if e.next.Before(now.Add(window)) || e.expiry != nil {
			due = append(due, e)
		}
	}
	return due
}

// round logs in where needed, then reads, renders and writes the secrets
// of batch once, and reports back.
func (w *Watcher) round(ctx context.Context, creds map[string]*credential, r roundDone) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.RoundTimeout)
	defer cancel()
	sessions := &Sessions{Readers: map[string]Reader{}, Errors: map[string]error{}}
	for name, c := range creds {
		if err := c.ensure(ctx, false); err != nil {
			sessions.Errors[name] = err
			continue
		}
		sessions.Readers[name] = c
	}
	r.report = w.pass.Run(ctx, sessions, r.secrets)
	w.events <- r
}

// probe sends one request to a server that was down: a lookup of a token
// in use, or a login when no set has logged in yet.
func (w *Watcher) probe(ctx context.Context, conn *connection, creds []*credential) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.RoundTimeout)
	defer cancel()
	var err error
	probed := false
	for _, c := range creds {
		if s := c.session(); s != nil {
			_, err = s.LookupSelf(ctx)
			probed = true
			break
		}
	}
	if !probed && len(creds) > 0 {
		err = creds[0].ensure(ctx, true)
	}
	w.events <- probeDone{conn: conn, err: err}
}

// handle applies an event from a round, a probe or a credential set.
func (w *Watcher) handle(st *state, ev event) {
	switch ev := ev.(type) {
	case roundDone:
		st.inFlight--
		w.applyRound(st, ev)
		if !st.firstDone {
			st.firstDone = true
			synced, failed, changed, unchanged, removed := ev.report.Counts()
			w.opts.Logger.Info("first pass finished", "secrets", len(ev.report.Secrets), "synced", synced, "failed", failed,
				"files_changed", changed, "files_unchanged", unchanged, "files_removed", removed, "reads", ev.report.Reads,
				"duration", ev.report.Duration.Round(time.Millisecond))
		}
		if w.opts.RoundDone != nil {
			w.opts.RoundDone()
		}
	case probeDone:
		st.inFlight--
		if ev.conn != st.conn {
			w.breaker.Abandon()
			return
		}
		if isOutage(ev.err) {
			w.breaker.Failure(true)
			st.outageErr = outageCause(ev.err)
			w.remindOutage(st, ev.err)
			// No round runs while the server is down, but a held secret
			// may have become stale since the last round.
			if w.opts.RoundDone != nil {
				w.opts.RoundDone()
			}
			return
		}
		w.serverBack(st)
	case credentialRestored:
		if ev.conn != st.conn {
			return
		}
		now := time.Now()
		for _, e := range st.entries {
			if e.secret.Credentials == ev.name && e.failures > 0 && !e.running {
				e.next, e.early = now, 0
			}
		}
	}
}

// applyRound records each secret's outcome and schedules its next read.
func (w *Watcher) applyRound(st *state, r roundDone) {
	now := time.Now()
	var outage error
	responded := false
	for i, e := range r.batch {
		res := r.report.Secrets[i]
		w.notifyHooks(r.secrets[i], res.Files)
		// An entry runs in one round at a time, so it is free again
		// now. A restart or removal by a reload meanwhile drops the
		// result; a restarted entry is due already.
		e.running = false
		if e.gen != r.gens[i] || e.removed {
			continue
		}
		e.held = false
		if res.Err == nil {
			responded = true
			// A recovery is logged when the failure was; secrets held
			// back by an outage are covered by its one line.
			if e.lastErr != "" {
				w.opts.Logger.Info("secret synced again", "secret", e.secret.Name, "failures", e.failures)
			}
			e.failures = 0
			e.lastErr = ""
			e.expiry = res.Expiry
			e.schedule(now, nextRefresh(now, e.secret.Refresh, e.expiry, w.opts.Jitter, rand.Float64), w.opts.Jitter)
			continue
		}
		e.failures++
		delay := secretBackoff(e.secret.Refresh, w.opts.MinBackoff, w.opts.MaxBackoff).delay(e.failures, rand.Float64())
		delay = max(delay, retryAfter(res.Err))
		e.schedule(now, now.Add(delay), w.opts.Jitter)
		credentialFailure := isCredentialFailure(res.Err)
		switch {
		case isOutage(res.Err):
			outage = res.Err
		case credentialFailure:
			// A set without a working token fails its secrets
			// without a request, so the server sent no response.
			w.logFailure(st, e, res.Err, delay)
		default:
			responded = true
			w.logFailure(st, e, res.Err, delay)
		}
		if isDenied(res.Err) && !credentialFailure {
			if c, ok := st.conn.creds[e.secret.Credentials]; ok {
				c.requestCheck()
			}
		}
	}
	switch {
	case outage != nil && !responded && st.ctx.Err() == nil:
		// Other reads of the round got a response, so the server is
		// up, and a 5xx of one path does not pause the rest.
		if w.breaker.Failure(false) {
			// outage is the error of one secret of the round, which
			// the others held back must not carry.
			st.outageErr = outageCause(outage)
			st.lastOutageLog = now
			w.opts.Logger.Warn("server unreachable, reads paused until it responds", "address", st.conn.client.Address(), "err", st.outageErr)
		}
	case responded:
		w.serverBack(st)
	}
}

// notifyHooks hands the changed files of a secret, removed ones included,
// to the hook runner: one run per round, however many files changed.
func (w *Watcher) notifyHooks(s config.Secret, files []sink.Result) {
	if w.opts.Hooks == nil || s.OnChange == nil {
		return
	}
	if changed := sink.ChangedPaths(files); len(changed) > 0 {
		w.opts.Hooks.Notify(s.Name, s.OnChange, changed)
	}
}

// logFailure logs a failed secret at error level the first time, when the
// error changes, and every tenth time; other repeats go to debug. Login
// and token failures are logged once by their credential set instead.
func (w *Watcher) logFailure(st *state, e *entry, err error, retryIn time.Duration) {
	if st.ctx.Err() != nil {
		return
	}
	msg := err.Error()
	level := log.DebugLevel
	if e.failures == 1 || msg != e.lastErr || e.failures%10 == 0 {
		level = log.ErrorLevel
	}
	if isCredentialFailure(err) {
		level = log.DebugLevel
	}
	e.lastErr = msg
	w.opts.Logger.Log(level, "secret failed", "secret", e.secret.Name, "path", e.secret.Path,
		"failures", e.failures, "retry_in", retryIn.Round(time.Millisecond), "err", err)
}

// remindOutage logs a failed probe at debug level, and as a warning once
// every outageReminder.
func (w *Watcher) remindOutage(st *state, err error) {
	open, next, failures := w.breaker.State()
	if !open {
		return
	}
	now := time.Now()
	if now.Sub(st.lastOutageLog) < outageReminder {
		w.opts.Logger.Debug("server still unreachable", "address", st.conn.client.Address(), "probes", failures, "next_probe", next.Sub(now).Round(time.Millisecond), "err", err)
		return
	}
	st.lastOutageLog = now
	w.opts.Logger.Warn("server still unreachable", "address", st.conn.client.Address(), "probes", failures, "err", err)
}

// serverBack closes the breaker after a response from the server, and
// makes due at once the secrets that the outage held back.
func (w *Watcher) serverBack(st *state) {
	closed, downFor := w.breaker.Success()
	if !closed {
		return
	}
	w.opts.Logger.Info("server reachable again, reads resumed", "address", st.conn.client.Address(), "down_for", downFor.Round(time.Second))
	now := time.Now()
	for _, e := range st.entries {
		e.held = false
		if e.failures > 0 && !e.running {
			e.next, e.early = now, 0
		}
	}
	for _, c := range st.conn.creds {
		c.mu.Lock()
		c.loginRetryAt = time.Time{}
		c.mu.Unlock()
	}
}

// apply switches to a new config.
func (w *Watcher) apply(st *state, cfg *config.Config) {
	now := time.Now()
	restartAll := false
	if !reflect.DeepEqual(cfg.Store, st.conn.store) {
		conn, err := w.connect(cfg.Store)
		if err != nil {
			w.opts.Logger.Error("reload failed, the running config stays", "file", cfg.File, "err", err)
			return
		}
		w.opts.Logger.Info("server or credential settings changed, logging in again", "address", conn.client.Address())
		old := st.conn
		st.conn = conn
		go closeConnection(old)
		w.breaker.Success()
		restartAll = true
		// Leases belong to the tokens of the old connection.
		w.pass.leases.keep(func(string) bool { return false })
	}

	if w.opts.Reloading != nil {
		w.opts.Reloading(cfg)
	}
	byName := map[string]*entry{}
	for _, e := range st.entries {
		byName[e.secret.Name] = e
	}
	var entries []*entry
	// Empty lists, not nil, so a JSON log shows [] rather than null.
	added, changed, unchanged := []string{}, []string{}, []string{}
	for _, s := range cfg.Secrets {
		e, ok := byName[s.Name]
		switch {
		case !ok:
			entries = append(entries, &entry{secret: s, next: now})
			added = append(added, s.Name)
			continue
		case restartAll || !sameSecret(e.secret, s):
			e.gen++
			e.failures = 0
			e.lastErr = ""
			e.next, e.early = now, 0
			changed = append(changed, s.Name)
		default:
			unchanged = append(unchanged, s.Name)
		}
		e.secret, e.key = s, ""
		delete(byName, s.Name)
		entries = append(entries, e)
	}
	removed := []string{}
	for _, e := range st.entries {
		if _, gone := byName[e.secret.Name]; gone {
			e.removed = true
			removed = append(removed, e.secret.Name)
		}
	}
	st.entries = entries
	w.dropUnusedCredentials(st)
	w.pass.leases.keep(func(key string) bool { return readKeyUsed(st.entries, key) })
	w.opts.Logger.Info("config applied", "file", cfg.File, "secrets", len(entries),
		"added", added, "removed", removed, "restarted", changed, "unchanged", len(unchanged))
}

// dropUnusedCredentials stops the credential sets that no secret uses any
// more and revokes their tokens.
func (w *Watcher) dropUnusedCredentials(st *state) {
	used := map[string]bool{}
	for _, e := range st.entries {
		used[e.secret.Credentials] = true
	}
	for name, c := range st.conn.creds {
		if !used[name] {
			delete(st.conn.creds, name)
			go c.stop(true)
		}
	}
}

// sameSecret reports whether two configs of a secret read and write the
// same, ignoring positions in the file. Templates count as the same when
// their texts are.
func sameSecret(a, b config.Secret) bool {
	if len(a.Files) != len(b.Files) {
		return false
	}
	for i := range a.Files {
		if !sameTemplate(a.Files[i].Tmpl, b.Files[i].Tmpl) {
			return false
		}
	}
	a.Pos, b.Pos = config.Position{}, config.Position{}
	a.Files = withoutPositions(a.Files)
	b.Files = withoutPositions(b.Files)
	return reflect.DeepEqual(a, b)
}

// sameTemplate reports whether two templates of a file render alike. Two
// parses of one text hold different parsed forms, so their sources are
// compared instead.
func sameTemplate(a, b *template.Template) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Source() == b.Source()
}

// withoutPositions returns files without their positions and templates,
// which sameSecret compares on its own.
func withoutPositions(files []config.File) []config.File {
	out := make([]config.File, len(files))
	for i, f := range files {
		f.Pos = config.Position{}
		f.Tmpl = nil
		out[i] = f
	}
	return out
}

// closeConnection stops the credential sets of a replaced connection,
// revoking the tokens it obtained by logging in, and closes its client.
func closeConnection(conn *connection) {
	for _, c := range conn.creds {
		c.stop(true)
	}
	conn.client.Close()
}

// shutdown waits for the rounds and probes in flight, so that writes in
// progress finish, then stops every credential set and revokes the tokens
// obtained by logging in.
func (w *Watcher) shutdown(st *state) {
	w.opts.Logger.Info("stopping", "rounds_in_flight", st.inFlight)
	for st.inFlight > 0 {
		w.handle(st, <-w.events)
	}
	closeConnection(st.conn)
	w.opts.Logger.Info("stopped")
}

// isDenied reports whether err is a 403 or a rejected token, which may mean
// that the token was revoked or has expired.
func isDenied(err error) bool {
	var ve *vault.Error
	return errors.As(err, &ve) && (ve.Kind == vault.KindForbidden || ve.Kind == vault.KindAuth)
}

// isCredentialFailure reports whether err is a login or token failure of a
// credential set, which the set logs itself.
func isCredentialFailure(err error) bool {
	var le *LoginError
	var te *TokenError
	return errors.As(err, &le) || errors.As(err, &te)
}
