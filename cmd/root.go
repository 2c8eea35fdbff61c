// Package cmd holds the secrets-sync commands: flags, environment and config
// file binding through cobra and viper, and one engine call per command.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mattn/go-isatty"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
)

// Streams are the command's standard input, output and error output.
// Rendered output goes to Out; logs and errors go to Err.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// configSearchPath lists where the config file is looked for when neither
// -c nor CONFIG_FILE names one.
var configSearchPath = []string{"config.yaml", "/etc/secrets-sync/config.yaml"}

// rootOptions are the settings shared by every command.
type rootOptions struct {
	streams Streams
	// rawOut is standard output without redaction, for rendered secrets.
	rawOut io.Writer
	// stderr is the process's standard error, to tell whether it is a
	// terminal; streams.Err wraps it.
	stderr      io.Writer
	credentials *credentialSet
	viper       *viper.Viper
	explicit    map[string]bool // settings given by a flag or variable
}

func (o *rootOptions) configFile() (string, error) {
	if f := o.viper.GetString("config"); f != "" {
		return f, nil
	}
	for _, candidate := range configSearchPath {
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	return "", &usageError{fmt.Errorf("no config file: pass -c PATH, set CONFIG_FILE, or create %s", strings.Join(configSearchPath, " or "))}
}

// loadConfig finds, loads and checks the config file, and logs its
// warnings.
func (o *rootOptions) loadConfig(logger *log.Logger) (*config.Config, error) {
	file, err := o.configFile()
	if err != nil {
		return nil, err
	}
	restore := pauseCollector(file)
	cfg, err := config.Load(file, config.Options{})
	restore()
	if err != nil {
		return nil, err
	}
	o.credentials.addConfig(cfg)
	for _, w := range cfg.Warnings {
		location := w.File
		if w.Line > 0 {
			location = fmt.Sprintf("%s:%d:%d", w.File, w.Line, w.Column)
		}
		logger.Warn(w.Message, "file", location, "key", w.Path)
	}
	return cfg, nil
}

// logger builds the logger from --log-level and --log-format. defaultLevel
// applies when neither the flag nor a variable sets the level.
func (o *rootOptions) logger(defaultLevel log.Level) (*log.Logger, error) {
	level := defaultLevel
	if o.viper.IsSet("log-level") {
		var err error
		level, err = log.ParseLevel(o.viper.GetString("log-level"))
		if err != nil {
			return nil, &usageError{fmt.Errorf("invalid --log-level %q; use debug, info, warn or error", o.viper.GetString("log-level"))}
		}
	}
	format := strings.ToLower(o.viper.GetString("log-format"))
	var formatter log.Formatter
	switch format {
	case "":
		formatter = log.JSONFormatter
		if f, ok := o.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			formatter = log.TextFormatter
		}
	case "text":
		formatter = log.TextFormatter
	case "json":
		formatter = log.JSONFormatter
	case "logfmt":
		formatter = log.LogfmtFormatter
	default:
		return nil, &usageError{fmt.Errorf("invalid --log-format %q; use text, json or logfmt", format)}
	}
	logger := log.NewWithOptions(o.streams.Err, log.Options{
		Level:           level,
		Formatter:       formatter,
		ReportTimestamp: true,
		TimeFormat:      time.RFC3339,
	})
	if f, ok := o.stderr.(*os.File); ok && formatter == log.TextFormatter && isatty.IsTerminal(f.Fd()) {
		// The redacting writer hides the terminal, so colours are set
		// here rather than detected.
		logger.SetColorProfile(termenv.ANSI256)
	}
	return logger, nil
}

// NewRootCommand builds the secrets-sync command tree.
func NewRootCommand(streams Streams) *cobra.Command {
	root, _ := newRoot(streams)
	return root
}

// newRoot builds the command tree and the options its commands share.
func newRoot(streams Streams) (*cobra.Command, *rootOptions) {
	credentials := &credentialSet{}
	credentials.addEnvironment(os.Environ())
	opts := &rootOptions{
		streams: Streams{
			In:  streams.In,
			Out: &redactor{w: streams.Out, values: credentials},
			Err: &redactor{w: streams.Err, values: credentials},
		},
		rawOut:      streams.Out,
		stderr:      streams.Err,
		credentials: credentials,
		viper:       viper.New(),
	}
	streams = opts.streams
	root := &cobra.Command{
		Use:   "secrets-sync",
		Short: "Write secrets from HashiCorp Vault or OpenBao to files",
		Long: `secrets-sync reads secrets from HashiCorp Vault or OpenBao, renders them
through Go templates, and writes them to files atomically.

The config file is found in this order: -c/--config, SECRETS_SYNC_CONFIG,
CONFIG_FILE, ./config.yaml, /etc/secrets-sync/config.yaml.
` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	addVersionFlag(root)

	flags := root.PersistentFlags()
	flags.StringP("config", "c", "", "config file (also SECRETS_SYNC_CONFIG or CONFIG_FILE)")
	flags.String("log-level", "", "log level: debug, info, warn or error (default info; also LOG_LEVEL)")
	flags.String("log-format", "", "log format: text, json or logfmt (default text on a terminal, json otherwise)")
	v := opts.viper
	_ = v.BindPFlags(flags)
	_ = v.BindEnv("config", "SECRETS_SYNC_CONFIG", "CONFIG_FILE")
	_ = v.BindEnv("log-level", "SECRETS_SYNC_LOG_LEVEL", "LOG_LEVEL")
	_ = v.BindEnv("log-format", "SECRETS_SYNC_LOG_FORMAT")
	_ = v.BindEnv("status-file", "SECRETS_SYNC_STATUS_FILE", "STATUS_FILE")
	bindHealthEnv(v)

	root.AddCommand(
		newSyncCommand(opts),
		newWatchCommand(opts),
		newRenderCommand(opts),
		newValidateCommand(opts),
		newSchemaCommand(opts),
		newInitCommand(opts),
		newIsReadyCommand(opts),
		newVersionCommand(opts),
	)
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		return opts.bindFlags(c)
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w; see %s --help", err, c.CommandPath())}
	})
	return root, opts
}

// flagsWithoutEnv are the flags that no SECRETS_SYNC_ variable sets.
// --secret selects secrets for one invocation. Its variable would be
// SECRETS_SYNC_SECRET, which an onChange command gets as the name of the
// secret that changed, so a hook that runs render would render that secret
// alone.
var flagsWithoutEnv = map[string]bool{"secret": true}

// bindFlags binds the running command's own flags to viper, each with its
// SECRETS_SYNC_ variable unless flagsWithoutEnv lists it. It runs when a
// command starts, not when it is built, because several commands have
// flags of the same name.
func (o *rootOptions) bindFlags(c *cobra.Command) error {
	var err error
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		if err = o.viper.BindPFlag(f.Name, f); err == nil && !flagsWithoutEnv[f.Name] {
			err = o.viper.BindEnv(f.Name, flagEnv(f.Name))
		}
	})
	return err
}

// flagEnv returns the environment variable that sets flag too, such as
// SECRETS_SYNC_LOG_LEVEL for log-level.
func flagEnv(flag string) string {
	return "SECRETS_SYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// settingName names a flag and its environment variable, for errors about
// a value that either may have set.
func settingName(flag string) string {
	return "--" + flag + " or " + flagEnv(flag)
}

// Execute runs the command line args and returns the process exit code.
func Execute(ctx context.Context, args []string, streams Streams) int {
	root, opts := newRoot(streams)
	streams = opts.streams
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		code = ExitUsage
	}
	message := err.Error()
	var reported *reportedError
	if errors.As(err, &reported) {
		// Each failure was printed or logged with its secret already.
		message = ""
		var pass *engine.PassError
		if errors.As(err, &pass) && code != ExitUsage {
			switch reported.noun {
			case "":
				message = passSummary(pass, code)
			default:
				message = fmt.Sprintf("%s (exit code %d); the lines above name each one", plural(len(pass.Errors), reported.noun), code)
			}
		}
	}
	h := hint(code, err)
	if reported != nil && reported.noun != "" {
		// validate printed each problem with its own fix.
		h = ""
	}
	if opts.jsonLogs() {
		logger, logErr := opts.logger(log.InfoLevel)
		if logErr == nil {
			logger.Error("command failed", "err", message, "exit_code", code, "hint", h)
			return code
		}
	}
	if message != "" {
		fmt.Fprintf(streams.Err, "Error: %s\n", message)
	}
	if h != "" {
		fmt.Fprintf(streams.Err, "Hint: %s\n", h)
	}
	return code
}

// passSummary returns the closing line of a pass whose secrets failed with
// the errors of pass. A failed login is logged once for its credential set,
// not once per secret, so the line names the set and counts the secrets
// that could not be read because of it.
func passSummary(pass *engine.PassError, code int) string {
	bySet := map[string]int{}
	others := 0
	for _, err := range pass.Errors {
		var loginErr *engine.LoginError
		if errors.As(err, &loginErr) {
			bySet[loginErr.Credentials]++
		} else {
			others++
		}
	}
	if len(bySet) == 0 {
		return fmt.Sprintf("%d of the secrets failed (exit code %d); the error lines above give the reasons", len(pass.Errors), code)
	}
	sets := slices.Sorted(maps.Keys(bySet))
	parts := make([]string, 0, len(sets)+1)
	for _, name := range sets {
		set := fmt.Sprintf("credential set %q", name)
		if name == "" {
			set = "the default credentials under secretStore"
		}
		parts = append(parts, fmt.Sprintf("login failed for %s, so %s could not be read", set, plural(bySet[name], "secret")))
	}
	if others > 0 {
		parts = append(parts, fmt.Sprintf("%s failed", plural(others, "other secret")))
	}
	return fmt.Sprintf("%s (exit code %d); the error lines above give the reasons", strings.Join(parts, "; "), code)
}

// jsonLogs reports whether --log-format json was given, so that the final
// error goes out as a JSON log line too. Without the flag the error stays
// plain text, which reads better in a CI log than escaped JSON.
func (o *rootOptions) jsonLogs() bool {
	return strings.ToLower(o.viper.GetString("log-format")) == "json"
}

// reportedError is an error whose parts were printed or logged already,
// so Execute adds only a closing line and the hint. noun names what each
// error of a PassError inside is counted as in the closing line; "" means
// secrets.
type reportedError struct {
	err  error
	noun string
}

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }
