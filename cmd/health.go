package cmd

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/metrics"
	"github.com/secrets-sync/secrets-sync/pkg/server"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// defaultListen is the address of the health server when nothing sets one.
// Loopback keeps metrics and status private to the host or pod; a scraper
// on another host needs --listen set to a reachable address.
const defaultListen = "127.0.0.1:9180"

// metricsPortHost is the host that METRICS_PORT alone binds. It is loopback,
// like the default, so that setting only a port never exposes the server on
// every interface; METRICS_ADDR=:PORT or --listen :PORT does that on request.
const metricsPortHost = "127.0.0.1"

// listenHelp is the --listen flag's help text.
const listenHelp = `address (host:port) of the health server, which serves /healthz, /readyz and
/metrics; "" turns it off. Also SECRETS_SYNC_LISTEN; when neither is set,
METRICS_ADDR (host:port), METRICS_PORT (port on 127.0.0.1) and
ENABLE_METRICS=false are honoured`

// bindHealthEnv binds the earlier tool's variables for the health server.
// listenAddress decides their precedence.
func bindHealthEnv(v *viper.Viper) {
	_ = v.BindEnv("metrics-addr", "METRICS_ADDR")
	_ = v.BindEnv("metrics-port", "METRICS_PORT")
	_ = v.BindEnv("enable-metrics", "ENABLE_METRICS")
}

// addListenFlag adds --listen to a command that runs the health server.
func (o *rootOptions) addListenFlag(c *cobra.Command) {
	c.Flags().String("listen", defaultListen, listenHelp)
}

// addStatusFileFlag adds --status-file to a command that writes the status
// file; "" turns the file off.
func (o *rootOptions) addStatusFileFlag(c *cobra.Command) {
	c.Flags().String("status-file", status.DefaultPath(),
		`status file that "secrets-sync isready" reads, written atomically with mode 0644 (it holds no secret); "" turns it off. Also SECRETS_SYNC_STATUS_FILE or STATUS_FILE`)
}

// statusFile returns the --status-file setting; "" means no status file.
func (o *rootOptions) statusFile() string {
	return o.viper.GetString("status-file")
}

// listenAddress returns the health server's address, or "" when it is
// off. The first of these that is set wins: --listen or
// SECRETS_SYNC_LISTEN (an empty value turns the server off);
// ENABLE_METRICS=false, which turns it off; METRICS_ADDR (host:port);
// METRICS_PORT, on 127.0.0.1; and then the default, 127.0.0.1:9180.
func (o *rootOptions) listenAddress() (string, error) {
	if o.viper.IsSet("listen") {
		return checkListenAddress(o.viper.GetString("listen"), "--listen or SECRETS_SYNC_LISTEN")
	}
	// viper treats an empty variable as unset, but an empty
	// SECRETS_SYNC_LISTEN is a request to turn the server off.
	if value, ok := os.LookupEnv("SECRETS_SYNC_LISTEN"); ok && value == "" {
		return "", nil
	}
	if o.viper.IsSet("enable-metrics") {
		raw := o.viper.GetString("enable-metrics")
		enabled, err := strconv.ParseBool(raw)
		if err != nil {
			return "", &usageError{fmt.Errorf("invalid ENABLE_METRICS %q; use true or false", raw)}
		}
		if !enabled {
			return "", nil
		}
	}
	if o.viper.IsSet("metrics-addr") {
		return checkListenAddress(o.viper.GetString("metrics-addr"), "METRICS_ADDR")
	}
	if o.viper.IsSet("metrics-port") {
		raw := o.viper.GetString("metrics-port")
		port, err := strconv.Atoi(raw)
		if err != nil || port < 1 || port > 65535 {
			return "", &usageError{fmt.Errorf("invalid METRICS_PORT %q; give a port number from 1 to 65535", raw)}
		}
		return net.JoinHostPort(metricsPortHost, strconv.Itoa(port)), nil
	}
	return defaultListen, nil
}

// checkListenAddress checks that addr is "" or host:port with a numeric
// port; source names the flag or variable for the error.
func checkListenAddress(addr, source string) (string, error) {
	if addr == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = fmt.Errorf("port %d is out of range", n)
		}
	}
	if err != nil {
		return "", &usageError{fmt.Errorf("invalid %s %q: %w; give host:port such as %s, or an empty value to turn the health server off", source, addr, err, defaultListen)}
	}
	return addr, nil
}

// startHealth binds the health server on listen and serves it in the
// background until ctx ends, logging where it listens. It returns nil and
// no error when listen is "" (the server is off). An address that cannot
// be bound is a usage error, so the command exits with code 2 and the
// reason. m may be nil, which leaves /metrics out. After ctx ends, the
// server's Done channel is closed once it has shut down.
func startHealth(ctx context.Context, listen string, tracker *status.Tracker, m *metrics.Metrics, logger *log.Logger) (*server.Server, error) {
	if listen == "" {
		logger.Info("health server off")
		return nil, nil
	}
	var registry *prometheus.Registry
	if m != nil {
		registry = m.Registry()
	}
	srv, err := server.New(listen, tracker, registry)
	if err != nil {
		return nil, &usageError{fmt.Errorf("%w; set --listen to a free host:port, or --listen \"\" to turn the health server off", err)}
	}
	logger.Info("health server listening", "addr", srv.Addr())
	go func() {
		if err := srv.Serve(ctx); err != nil {
			logger.Error("health server stopped", "addr", srv.Addr(), "err", err)
		}
	}()
	return srv, nil
}

// healthObserver returns an engine.Observer that reports to both the
// tracker and the metrics; m may be nil.
func healthObserver(tracker *status.Tracker, m *metrics.Metrics) engine.Observer {
	if m == nil {
		return tracker
	}
	return observers{tracker, m}
}

// observers reports each event to every observer in turn.
type observers []engine.Observer

func (list observers) ReadDone(secrets []string, duration time.Duration, err error) {
	for _, o := range list {
		o.ReadDone(secrets, duration, err)
	}
}

func (list observers) SecretDone(secret string, files []sink.Result, err error) {
	for _, o := range list {
		o.SecretDone(secret, files, err)
	}
}

// setHealthSecrets points the tracker at secrets, at start and after each
// reload. It also removes from the metrics every secret that is no longer
// configured, unless m is nil.
func setHealthSecrets(tracker *status.Tracker, m *metrics.Metrics, secrets []config.Secret) {
	before := tracker.Snapshot().Secrets
	tracker.SetSecrets(secrets)
	if m == nil {
		return
	}
	configured := make(map[string]bool, len(secrets))
	for _, s := range secrets {
		configured[s.Name] = true
	}
	for _, s := range before {
		if !configured[s.Name] {
			m.Forget(s.Name)
		}
	}
}

// statusWriter writes the status file and logs failures without flooding
// the log: the first failure in a row is a warning, the rest are at debug
// level, and the next success is logged once. It is safe for concurrent
// use.
//
// A long-running command should write once at start, before its first
// pass, so that a file left by an earlier process with the same pid (as
// after a container restart) cannot report ready for this one.
type statusWriter struct {
	path    string // "" means no status file
	logger  *log.Logger
	mu      sync.Mutex
	failing bool
	// written is the state of the status last written, without its times.
	written string
}

func newStatusWriter(path string, logger *log.Logger) *statusWriter {
	return &statusWriter{path: path, logger: logger}
}

// write writes s to the status file, unless the file is off.
func (w *statusWriter) write(s status.Status) {
	if w.path == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeLocked(s)
}

// writeRound writes s after a watch round, but only when a secret's state,
// error or file counts changed. Rounds where nothing changed then cause no
// disk write, and isready judges staleness from the times and maxStale
// stored by the last write, at the time it runs.
func (w *statusWriter) writeRound(s status.Status) {
	if w.path == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if stateOf(s) == w.written {
		return
	}
	w.writeLocked(s)
}

// stateOf describes s without its times and changed-file counts, to tell a
// changed status from one where only those moved. Otherwise every secret's
// first unchanged round after the first pass (changed files 1, then 0)
// would rewrite the file once per secret.
func stateOf(s status.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %t %q\n", s.PID, s.Finished, s.TokenError)
	for _, sec := range s.Secrets {
		fmt.Fprintf(&b, "%q %s %q %d %t %g\n", sec.Name, sec.State, sec.LastError, sec.Files, sec.Stale, sec.MaxStaleSeconds)
	}
	return b.String()
}

func (w *statusWriter) writeLocked(s status.Status) {
	err := status.WriteFile(w.path, s)
	if err == nil {
		w.written = stateOf(s)
	}
	switch {
	case err != nil && !w.failing:
		w.failing = true
		w.logger.Warn("status file not written; isready will not see this run, so set --status-file to a writable path", "file", w.path, "err", err)
	case err != nil:
		w.logger.Debug("status file not written", "file", w.path, "err", err)
	case w.failing:
		w.failing = false
		w.logger.Info("status file written again", "file", w.path)
	}
}
