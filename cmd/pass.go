package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/vault"
)

// passOptions are the flags of commands that run one pass.
type passOptions struct {
	rendering   bool // the sink shows files rather than writing their destinations
	timeout     time.Duration
	concurrency int
	// observer receives each read and each secret's outcome; nil means none.
	observer engine.Observer
}

func (o *rootOptions) addPassFlags(c *cobra.Command) {
	c.Flags().Duration("timeout", 2*time.Minute, "time limit for the whole pass, retries included")
	c.Flags().Int("concurrency", engine.DefaultConcurrency, "number of secrets read in parallel")
}

func (o *rootOptions) passOptions() (passOptions, error) {
	p := passOptions{timeout: o.viper.GetDuration("timeout"), concurrency: o.viper.GetInt("concurrency")}
	if p.timeout <= 0 {
		return p, &usageError{fmt.Errorf("invalid %s %q; give a positive duration such as 2m", settingName("timeout"), o.viper.GetString("timeout"))}
	}
	if p.concurrency < 1 {
		return p, &usageError{fmt.Errorf("invalid %s %q; give a whole number of 1 or more", settingName("concurrency"), o.viper.GetString("concurrency"))}
	}
	return p, nil
}

// runPass logs in, then reads, renders and writes secrets to out once,
// within the timeout. Tokens obtained by logging in are revoked before it
// returns.
func runPass(ctx context.Context, cfg *config.Config, secrets []config.Secret, out sink.Sink, opts passOptions, logger *log.Logger) (*engine.Report, error) {
	start := time.Now()
	client, err := vault.NewClient(cfg.Store, vault.Options{MaxConns: opts.concurrency, Logger: logger})
	if err != nil {
		return nil, &usageError{err}
	}
	defer client.Close()

	ctx, cancel := context.WithTimeoutCause(ctx, opts.timeout, fmt.Errorf("--timeout %s reached", opts.timeout))
	defer cancel()

	pass := engine.NewPass(out, engine.Options{Concurrency: opts.concurrency, Logger: logger, Observer: opts.observer, Rendering: opts.rendering})
	sessions := pass.Login(ctx, client, cfg.Store, secrets)
	report := pass.Run(ctx, sessions, secrets)
	report.Duration = time.Since(start)

	// Revoke even when the pass ran out of time, with a short time limit
	// of its own.
	revokeCtx, cancelRevoke := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelRevoke()
	for _, err := range sessions.Revoke(revokeCtx, logger) {
		logger.Warn("token not revoked", "err", err)
	}
	return report, nil
}
