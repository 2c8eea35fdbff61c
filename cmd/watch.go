package cmd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/hook"
	"github.com/secrets-sync/secrets-sync/pkg/metrics"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// healthShutdownWait bounds the wait for the health server to stop after
// SIGTERM or SIGINT.
const healthShutdownWait = 5 * time.Second

const watchHelp = `Sync every secret once, then keep its files fresh: each secret is read again
on its own refreshInterval, varied by up to 10% at random so that secrets and
replicas do not read at the same instant. Secrets due together share
identical reads. A file whose content, mode and owner already match is not
written, and its onChange does not run.

A failed secret keeps its last good files and is retried with exponential
backoff, capped at its refreshInterval and at 5m, while the others keep their
schedule. When the server is unreachable or sealed, every secret waits and one
request at a time probes the server until it answers. A 429 with Retry-After
waits as long as the server asks.

Tokens: a renewable token is renewed at two thirds of its TTL. AppRole logs in
again when renewal is refused or its max TTL is near, and revokes the old
token. A given token that expires or is revoked makes the process not ready,
until a new token appears in tokenFile, which is read again every few seconds.

Reload: SIGHUP, or a change of the config file (written in place, replaced by a
rename, or a Kubernetes ConfigMap update), loads the config again. New secrets
start, removed ones stop and leave their files, changed ones start over. An
invalid config is logged, problem by problem, and the running one stays.
--watch-config=false (or WATCH_CONFIG=false) turns the file watch off;
SIGHUP still reloads.

onChange: after a secret's files change, its command runs once for the change,
without a shell, with SECRETS_SYNC_SECRET set to the secret's name and
SECRETS_SYNC_CHANGED_FILES to the changed paths, one per line, removed links
of a linked secret included; VAULT_* and BAO_* variables are removed from its
environment. Its output is logged. Then its signal goes to the process in
pidFile. A failed hook is logged and stops nothing.

SIGTERM or SIGINT stops new reads, lets writes in progress finish, revokes the
tokens obtained by logging in, and exits 0.

The status file (--status-file) is written after every round for
"secrets-sync isready", and the health server (--listen) serves /healthz,
/readyz and /metrics.
`

// watchExitCodesHelp lists the exit codes of watch, which keeps running
// through every failure of a secret, a login or the server.
const watchExitCodesHelp = `
Exit codes:
  0  stopped by SIGTERM or SIGINT
  1  unexpected internal error
  2  usage error, invalid config, or a --listen address that cannot be bound`

func newWatchCommand(root *rootOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "watch",
		Short: "Sync every secret, then keep its files fresh until stopped",
		Long:  watchHelp + watchExitCodesHelp,
		Example: `  secrets-sync watch -c config.yaml
  secrets-sync watch -c config.yaml --listen 127.0.0.1:9180 --status-file /tmp/secrets-sync.status.json
  WATCH_CONFIG=false secrets-sync watch -c /etc/secrets-sync/config.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runWatch(c, root)
		},
	}
	root.addWatchFlags(c)
	return c
}

// addWatchFlags adds the flags of watch that c does not have yet, so that
// sync, which runs watch without --once, shares them.
func (o *rootOptions) addWatchFlags(c *cobra.Command) {
	if c.Flags().Lookup("timeout") == nil {
		c.Flags().Duration("timeout", 2*time.Minute, "time limit for one round of reads and writes, logins included")
		c.Flags().Int("concurrency", engine.DefaultConcurrency, "number of secrets read in parallel in one round")
	}
	if c.Flags().Lookup("status-file") == nil {
		o.addStatusFileFlag(c)
	}
	if c.Flags().Lookup("listen") == nil {
		o.addListenFlag(c)
	}
	if c.Flags().Lookup("watch-config") == nil {
		c.Flags().Bool("watch-config", true, "reload when the config file changes; SIGHUP reloads either way (also SECRETS_SYNC_WATCH_CONFIG or WATCH_CONFIG)")
	}
}

// runWatch runs the watch loop until the command's context ends.
func runWatch(c *cobra.Command, root *rootOptions) error {
	ctx := c.Context()
	// SIGHUP is caught first, because its default action ends the process.
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	_ = root.viper.BindEnv("watch-config", "WATCH_CONFIG")

	logger, err := root.logger(log.InfoLevel)
	if err != nil {
		return err
	}
	tracker := status.NewTracker(status.CommandWatch)
	statusOut := newStatusWriter(root.statusFile(), logger)

	opts, err := root.passOptions()
	if err != nil {
		return err
	}
	listen, err := root.listenAddress()
	if err != nil {
		return err
	}
	file, err := root.configFile()
	if err != nil {
		return err
	}
	cfg, err := root.loadConfig(logger)
	if err != nil {
		return err
	}
	m := metrics.New(version, commit)
	setHealthSecrets(tracker, m, cfg.Secrets)
	// The status file is written before the first pass, with every secret
	// pending, so that a file left by an earlier run never speaks for this
	// one. It is not written before the secrets are known, because a
	// status without secrets would count as ready. A run that stops
	// earlier exits, and isready finds its process gone.
	statusOut.write(tracker.Snapshot())
	srv, err := startHealth(ctx, listen, tracker, m, logger)
	if err != nil {
		return err
	}
	removeStaleTempFiles(cfg, logger)

	hooks := hook.NewRunner(logger)
	tokens := newTokenHealth(tracker, m, statusOut)
	running := &runningConfig{cfg: cfg}
	watcher := engine.NewWatcher(sink.NewDisk(), engine.WatchOptions{
		Concurrency:  opts.concurrency,
		Logger:       logger,
		Observer:     engine.FanOut(tracker, m),
		Tokens:       tokens,
		Hooks:        hooks,
		RoundTimeout: opts.timeout,
		RoundDone:    func() { statusOut.writeRound(tracker.Snapshot()) },
		Reloading: func(next *config.Config) {
			previous := running.swap(next)
			setHealthSecrets(tracker, m, next.Secrets)
			for _, name := range droppedCredentials(previous, next) {
				tokens.forget(name)
			}
			statusOut.write(tracker.Snapshot())
		},
	})

	reloads := &reloader{file: file, root: root, logger: logger, watcher: watcher}
	var changes <-chan struct{}
	if root.viper.GetBool("watch-config") {
		fw, err := engine.WatchFile(file, engine.DefaultFileDebounce, logger)
		if err != nil {
			logger.Warn("config file not watched for changes; SIGHUP still reloads it", "file", file, "err", err)
		} else {
			defer fw.Close()
			changes = fw.Changes()
		}
	}
	go reloads.serve(ctx, hangups, changes)

	logger.Info("watch started", "config", file, "secrets", len(cfg.Secrets), "address", config.RedactAddress(cfg.Store.Addresses[0]),
		"status_file", root.statusFile(), "watch_config", changes != nil)
	if err := watcher.Run(ctx, cfg); err != nil {
		return &usageError{err}
	}
	hooks.Wait()
	statusOut.write(tracker.Snapshot())
	if srv != nil {
		select {
		case <-srv.Done():
		case <-time.After(healthShutdownWait):
			logger.Warn("health server did not stop in time", "addr", srv.Addr())
		}
	}
	return nil
}

// removeStaleTempFiles removes the temporary files beside the configured
// destinations, and the version folders of linked secrets, that an earlier
// run left.
func removeStaleTempFiles(cfg *config.Config, logger *log.Logger) {
	var paths, linkedDirs []string
	for _, s := range cfg.Secrets {
		for _, f := range s.Files {
			paths = append(paths, f.Path)
		}
		if s.Layout == config.LayoutLinked && len(s.Files) > 0 {
			dir := filepath.Dir(s.Files[0].Path)
			linkedDirs = append(linkedDirs, dir)
			// The link that switches versions has a temporary name too.
			paths = append(paths, filepath.Join(dir, sink.DataLinkName))
		}
	}
	removed, err := sink.RemoveStaleTempFor(paths)
	for _, path := range removed {
		logger.Info("removed temp file left by an earlier run", "file", path)
	}
	if err != nil {
		logger.Warn("could not remove temp files left by an earlier run", "err", err)
	}
	removed, err = sink.RemoveStaleVersions(linkedDirs)
	for _, path := range removed {
		logger.Info("removed version folder left by an earlier run", "folder", path)
	}
	if err != nil {
		logger.Warn("could not remove version folders left by an earlier run", "err", err)
	}
}

// reloader loads the config again on SIGHUP and on changes of the file,
// and hands a valid one to the watcher.
type reloader struct {
	file    string
	root    *rootOptions
	logger  *log.Logger
	watcher *engine.Watcher
}

func (r *reloader) serve(ctx context.Context, hangups <-chan os.Signal, changes <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangups:
			r.reload("SIGHUP")
		case <-changes:
			r.reload("the config file changed")
		}
	}
}

// reload loads the file. An invalid file is logged, one line per problem,
// and the running config stays.
func (r *reloader) reload(reason string) {
	cfg, err := config.Load(r.file, config.Options{})
	if err != nil {
		var invalid *config.InvalidError
		if errors.As(err, &invalid) {
			problems := invalid.Problems.Errors()
			r.logger.Error("config reload failed, the running config stays", "file", r.file, "reason", reason, "problems", len(problems))
			for _, p := range problems {
				r.logger.Error(p.Message, "file", location(p), "key", p.Path)
			}
			return
		}
		r.logger.Error("config reload failed, the running config stays", "file", r.file, "reason", reason, "err", err)
		return
	}
	for _, w := range cfg.Warnings {
		r.logger.Warn(w.Message, "file", location(w), "key", w.Path)
	}
	r.logger.Info("config reloaded", "file", r.file, "reason", reason, "secrets", len(cfg.Secrets))
	r.watcher.Reload(cfg)
}

// location formats a problem's place as FILE:LINE:COLUMN.
func location(p config.Problem) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
	return p.File
}

// runningConfig is the config that the watcher applied last.
type runningConfig struct {
	mu  sync.Mutex
	cfg *config.Config
}

// swap sets next as the running config and returns the one before.
func (r *runningConfig) swap(next *config.Config) *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	previous := r.cfg
	r.cfg = next
	return previous
}

// droppedCredentials returns the credential sets that secrets of previous
// use and secrets of next do not, by the names the TokenObserver gets.
func droppedCredentials(previous, next *config.Config) []string {
	used := map[string]bool{}
	for _, s := range next.Secrets {
		used[config.CredentialsName(s.Credentials)] = true
	}
	var dropped []string
	for _, s := range previous.Secrets {
		name := config.CredentialsName(s.Credentials)
		if !used[name] && !slices.Contains(dropped, name) {
			dropped = append(dropped, name)
		}
	}
	return dropped
}

// tokenHealth passes each credential set's token state to the metrics and
// the tracker. The tracker holds one token error, so it gets the failing
// sets' errors joined, in name order.
type tokenHealth struct {
	tracker *status.Tracker
	metrics *metrics.Metrics
	status  *statusWriter

	mu     sync.Mutex
	errors map[string]error
}

func newTokenHealth(tracker *status.Tracker, m *metrics.Metrics, out *statusWriter) *tokenHealth {
	return &tokenHealth{tracker: tracker, metrics: m, status: out, errors: map[string]error{}}
}

// TokenTTL sets the credential set's TTL metric.
func (t *tokenHealth) TokenTTL(credentials string, ttl time.Duration) {
	t.metrics.SetTokenTTL(credentials, ttl)
}

// TokenInvalid sets the credential set's TTL metric to the value for no
// valid token. Readiness follows TokenError, which an outage does not set.
func (t *tokenHealth) TokenInvalid(credentials string) {
	t.metrics.SetTokenInvalid(credentials)
}

// TokenError records or clears the credential set's token failure, and
// writes the status file when that changes readiness.
func (t *tokenHealth) TokenError(credentials string, err error) {
	t.mu.Lock()
	_, had := t.errors[credentials]
	if err == nil {
		delete(t.errors, credentials)
	} else {
		t.errors[credentials] = err
	}
	changed := had || err != nil
	failures := byName(t.errors)
	t.mu.Unlock()
	if !changed {
		return
	}
	t.tracker.SetTokenErrors(failures)
	t.status.write(t.tracker.Snapshot())
}

// forget drops a credential set that a reload removed.
func (t *tokenHealth) forget(credentials string) {
	t.metrics.ForgetCredentials(credentials)
	t.TokenError(credentials, nil)
}

// byName returns the errors of errs in the order of their credential set
// names.
func byName(errs map[string]error) []error {
	names := slices.Sorted(maps.Keys(errs))
	sorted := make([]error, len(names))
	for i, name := range names {
		sorted[i] = errs[name]
	}
	return sorted
}

// rejectedLogins returns the errors of the credential sets whose token or
// login was rejected, or whose credential file could not be read, in the
// order of the set names. It leaves out failures to reach the server,
// which are no token failures.
func rejectedLogins(errs map[string]error) []error {
	rejected := map[string]error{}
	for name, err := range errs {
		if isCredentialFailure(err) {
			rejected[name] = err
		}
	}
	return byName(rejected)
}

// runChangeHooks runs, one after the other, the onChange of each secret of
// a sync --once pass whose files changed or were removed. report lists
// secrets in the order of secrets.
func runChangeHooks(ctx context.Context, secrets []config.Secret, report *engine.Report, logger *log.Logger) {
	runner := hook.NewRunner(logger)
	for i, result := range report.Secrets {
		s := secrets[i]
		if s.OnChange == nil {
			continue
		}
		if changed := sink.ChangedPaths(result.Files); len(changed) > 0 {
			runner.Run(ctx, s.Name, s.OnChange, changed)
		}
	}
}
