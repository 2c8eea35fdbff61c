package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avast/retry-go/v4"
	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// DefaultConcurrency is the number of reads in flight when none is set.
const DefaultConcurrency = 16

// Reader reads one secret with one credential set.
type Reader interface {
	Read(ctx context.Context, req vault.Request) (*vault.Secret, error)
}

// Options tune a pass.
type Options struct {
	Concurrency int
	Logger      *log.Logger
	// Retry bounds the backoff between attempts of a transient failure.
	// Attempts go on until the context ends.
	RetryDelay, RetryMaxDelay time.Duration
	// Observer receives each read and each secret's outcome; nil means none.
	Observer Observer
	// Attempts is how many times a read with a transient failure is sent;
	// 0 means until the context ends. Watch sends each read once and
	// schedules the retry itself.
	Attempts uint
	// QuietFailures logs failed secrets at debug level only, for a caller
	// that logs them itself and rate-limits repeats.
	QuietFailures bool
	// Rendering marks a pass whose sink shows files instead of writing
	// them to their destinations, so its log lines read "file rendered".
	Rendering bool
}

// Pass reads, renders and writes a set of secrets once.
type Pass struct {
	opts Options
	sink sink.Sink
	// leases is nil outside watch, where every read is a new read.
	leases *leaseBook
}

// NewPass prepares a pass that hands rendered files to s.
func NewPass(s sink.Sink, opts Options) *Pass {
	if opts.Concurrency < 1 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = log.New(io.Discard)
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 100 * time.Millisecond
	}
	if opts.RetryMaxDelay <= 0 {
		opts.RetryMaxDelay = 5 * time.Second
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	return &Pass{opts: opts, sink: s}
}

// SecretResult is the outcome of one secret.
type SecretResult struct {
	Name  string
	Files []sink.Result
	Err   error
	// Expiry is when the data read expires; nil when nothing in it does,
	// and after a failure.
	Expiry *Expiry
}

// Report is the outcome of a pass.
type Report struct {
	Secrets  []SecretResult // in config order
	Reads    int            // reads sent to the server, after deduplication
	Duration time.Duration
	// LoginErrors holds the login failures of the sessions, by credential
	// set name; the secrets of each such set failed with its error.
	LoginErrors map[string]error
}

// Err returns a *PassError listing the failed secrets, or nil.
func (r *Report) Err() error {
	var errs []error
	for _, s := range r.Secrets {
		if s.Err != nil {
			errs = append(errs, s.Err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &PassError{Errors: errs}
}

// Counts returns the number of synced and failed secrets, of changed and
// unchanged files, and of removed files. A removed file counts as removed
// only, so changed and unchanged add up to the configured files of the
// synced secrets.
func (r *Report) Counts() (synced, failed, changed, unchanged, removed int) {
	for _, s := range r.Secrets {
		if s.Err != nil {
			failed++
			continue
		}
		synced++
		for _, f := range s.Files {
			switch {
			case f.Removed:
				removed++
			case f.Changed:
				changed++
			default:
				unchanged++
			}
		}
	}
	return synced, failed, changed, unchanged, removed
}

// readGroup is one read shared by every secret that requests the same data.
type readGroup struct {
	credentials string
	key         string // readKey of every secret of the group
	req         vault.Request
	secrets     []int // indexes into the pass's secrets
}

// groupReads merges secrets whose reads are identical: same credential set,
// namespace, mount, path, KV version and pinned version.
func groupReads(secrets []config.Secret) []*readGroup {
	byKey := map[string]*readGroup{}
	var groups []*readGroup
	for i, s := range secrets {
		req := secretRequest(s)
		key := readKey(s)
		g, ok := byKey[key]
		if !ok {
			g = &readGroup{credentials: s.Credentials, key: key, req: req}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.secrets = append(g.secrets, i)
	}
	return groups
}

// readKey identifies the read of a secret: secrets with equal keys share
// one read. The KV v2 path normalisation is applied to the key, so that
// "app" and "data/app" share a read.
func readKey(s config.Secret) string {
	if s.Engine == config.EngineGeneric {
		return genericReadKey(s)
	}
	normalised := vault.KVPath(s.Mount, s.Path, s.KVVersion)
	return s.Credentials + "\x00" + s.Namespace + "\x00" + normalised + "\x00" + s.KVVersion + "\x00" + strconv.Itoa(s.Version)
}

// Run reads, renders and writes every secret once, reading with the
// sessions' readers. Each secret that can be written is written, even when
// others fail. A secret whose credential set could not log in fails with
// that login error, without a read.
func (p *Pass) Run(ctx context.Context, sessions *Sessions, secrets []config.Secret) *Report {
	start := time.Now()
	report := &Report{Secrets: make([]SecretResult, len(secrets)), LoginErrors: sessions.Errors}
	for i, s := range secrets {
		report.Secrets[i].Name = s.Name
	}
	groups := groupReads(secrets)

	// Workers take the next group by index, so that handing out a group
	// wakes no other goroutine.
	var next, reads atomic.Int64
	var wg sync.WaitGroup
	workers := min(p.opts.Concurrency, len(groups))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(groups) {
					return
				}
				if p.runGroup(ctx, sessions, groups[i], secrets, report) {
					reads.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	report.Reads = int(reads.Load())
	report.Duration = time.Since(start)
	return report
}

// runGroup reads one group's data and writes the files of each of its
// secrets. It reports whether a read was sent.
func (p *Pass) runGroup(ctx context.Context, sessions *Sessions, g *readGroup, secrets []config.Secret, report *Report) bool {
	fail := func(err error, level log.Level) {
		if p.opts.QuietFailures {
			level = log.DebugLevel
		}
		for _, i := range g.secrets {
			report.Secrets[i].Err = &SecretError{Secret: secrets[i].Name, Err: err}
			p.opts.Logger.Log(level, "secret failed", "secret", secrets[i].Name, "path", secrets[i].Path, "err", err)
			p.opts.Observer.SecretDone(secrets[i].Name, nil, err)
		}
	}
	if err, failed := sessions.Errors[g.credentials]; failed {
		// The login failure was logged once already, at error level.
		fail(err, log.DebugLevel)
		return false
	}
	reader, ok := sessions.Readers[g.credentials]
	if !ok {
		fail(fmt.Errorf("no session for credentials %q", g.credentials), log.ErrorLevel)
		return false
	}
	names := make([]string, len(g.secrets))
	for j, i := range g.secrets {
		names[j] = secrets[i].Name
	}
	started := time.Now()
	secret, err := p.fetch(ctx, reader, g, names)
	p.opts.Observer.ReadDone(names, time.Since(started), err)
	if err != nil {
		fail(err, log.ErrorLevel)
		return true
	}
	expiry := p.secretExpiry(secret, names)
	for _, i := range g.secrets {
		s := &secrets[i]
		results, err := p.writeSecret(ctx, s, secret.Data)
		report.Secrets[i].Files = results
		p.opts.Observer.SecretDone(s.Name, results, err)
		if err != nil {
			report.Secrets[i].Err = &SecretError{Secret: s.Name, Err: err}
			level := log.ErrorLevel
			if p.opts.QuietFailures {
				level = log.DebugLevel
			}
			p.opts.Logger.Log(level, "secret failed", "secret", s.Name, "path", s.Path, "err", err)
			continue
		}
		report.Secrets[i].Expiry = expiry
		p.logResults(s.Name, results)
	}
	return true
}

// logResults logs each written or removed file of secret at info level,
// and each unchanged one at debug level.
func (p *Pass) logResults(secret string, results []sink.Result) {
	for _, r := range results {
		switch {
		case r.Removed:
			p.opts.Logger.Info("file removed", "secret", secret, "file", r.Path)
		case r.Changed:
			if p.opts.Rendering {
				p.opts.Logger.Info("file rendered", "secret", secret, "file", r.Path)
			} else {
				p.opts.Logger.Info("file written", "secret", secret, "file", r.Path)
			}
		default:
			p.opts.Logger.Debug("file unchanged", "secret", secret, "file", r.Path)
		}
	}
}

// read reads one secret, retrying transient failures.
func (p *Pass) read(ctx context.Context, reader Reader, req vault.Request) (*vault.Secret, error) {
	if p.opts.Attempts == 1 {
		// retry-go reports even the last attempt to OnRetry, which
		// would log a retry that never comes.
		return reader.Read(ctx, req)
	}
	return retryTransient(ctx, p.opts, func(n uint, err error) {
		p.logRetry(ctx, n, "read failed, retrying", "mount", req.Mount, "path", req.Path, "attempt", n+1, "err", err)
	}, func() (*vault.Secret, error) {
		return reader.Read(ctx, req)
	})
}

// retryTransient calls fn until it succeeds, fails permanently, or the
// context ends. Delays grow exponentially with jitter, capped at
// opts.RetryMaxDelay; a Retry-After from the server sets the next delay
// instead. When the context ends, the error is the last failure with the
// reason for giving up.
func retryTransient[T any](ctx context.Context, opts Options, onRetry func(uint, error), fn func() (T, error)) (T, error) {
	var lastErr error
	value, err := retry.DoWithData(
		func() (T, error) {
			v, err := fn()
			if err != nil {
				lastErr = err
			}
			return v, err
		},
		retry.Context(ctx),
		retry.Attempts(opts.Attempts),
		retry.RetryIf(vault.IsTransient),
		retry.LastErrorOnly(true),
		retry.Delay(opts.RetryDelay),
		retry.MaxJitter(opts.RetryDelay),
		retry.DelayType(retryAfterOr(opts.RetryMaxDelay, retry.CombineDelay(retry.BackOffDelay, retry.RandomDelay))),
		retry.OnRetry(onRetry),
	)
	if err != nil && lastErr != nil && ctx.Err() != nil {
		return value, fmt.Errorf("%w (gave up: %v)", lastErr, context.Cause(ctx))
	}
	return value, err
}

// retryLevel logs the first retry and every tenth one as a warning and the
// rest at debug level, so a long outage does not flood the log.
func retryLevel(attempt uint) log.Level {
	if attempt%10 == 0 {
		return log.WarnLevel
	}
	return log.DebugLevel
}

// logRetry logs retry attempt at the level retryLevel gives it, with
// keyvals and, when ctx has a deadline such as that of sync --once's
// --timeout, the time left before it as "gives_up_in".
func (p *Pass) logRetry(ctx context.Context, attempt uint, msg string, keyvals ...any) {
	if deadline, ok := ctx.Deadline(); ok {
		keyvals = append(keyvals, "gives_up_in", time.Until(deadline).Round(time.Second))
	}
	p.opts.Logger.Log(retryLevel(attempt), msg, keyvals...)
}

// retryAfterOr uses the server's Retry-After when the error carries one,
// and otherwise the backoff capped at maxDelay. The cap is applied here, not
// with retry.MaxDelay, because that would also cut a longer Retry-After.
func retryAfterOr(maxDelay time.Duration, backoff retry.DelayTypeFunc) retry.DelayTypeFunc {
	return func(n uint, err error, c *retry.Config) time.Duration {
		var ve *vault.Error
		if errors.As(err, &ve) && ve.RetryAfter > 0 {
			return ve.RetryAfter
		}
		return min(backoff(n, err, c), maxDelay)
	}
}

// writeSecret renders every file of s, then hands them all to the sink. If
// any file fails to render, nothing is written.
func (p *Pass) writeSecret(ctx context.Context, s *config.Secret, data map[string]any) ([]sink.Result, error) {
	files := make([]sink.File, 0, len(s.Files))
	for _, f := range s.Files {
		content, err := renderFile(f, data)
		if err != nil {
			return nil, &RenderError{Path: f.Dest, Err: err}
		}
		files = append(files, sink.File{
			Path:       f.Path,
			Dest:       f.Dest,
			Content:    content,
			Mode:       f.Mode,
			UID:        f.UID,
			GID:        f.GID,
			AllowEmpty: f.AllowEmpty,
			Linked:     s.Layout == config.LayoutLinked,
			NewFolders: f.NewFolders,
		})
	}
	return p.sink.Write(ctx, s.Name, files)
}

func renderFile(f config.File, data map[string]any) ([]byte, error) {
	if f.Field != "" {
		return template.FieldValue(data, f.Field)
	}
	if f.Tmpl == nil {
		return nil, errors.New("no template")
	}
	return f.Tmpl.Render(data)
}
