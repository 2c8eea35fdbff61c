package cmd

import (
	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

func newSyncCommand(root *rootOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "sync --once",
		Short: "Write every configured secret file",
		Long: `Read every secret in the config, render its files, and write them to their
destinations atomically. A file whose content, mode and owner already match is
not written. Transient failures (connection refused, timeouts, 5xx, 429, 412)
are retried with backoff until --timeout; a missing or forbidden secret is not.
Every secret that can be written is written, even when another fails.

With --once it stops after one pass, for init containers and scripts. Without
it, sync runs as "secrets-sync watch" does and keeps the files fresh until
stopped; see secrets-sync watch --help.

The onChange of a secret whose files changed runs in both modes, after the
pass. A failed hook is logged and does not change the exit code.
` + exitCodesHelp,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runSync(c, root)
		},
	}
	c.Flags().Bool("once", false, "stop after one pass")
	root.addPassFlags(c)
	root.addStatusFileFlag(c)
	root.addWatchFlags(c)
	return c
}

func runSync(c *cobra.Command, root *rootOptions) error {
	if !root.viper.GetBool("once") {
		return runWatch(c, root)
	}
	logger, err := root.logger(log.InfoLevel)
	if err != nil {
		return err
	}
	// The status file is written before anything else can fail, so that a
	// file left by an earlier run never speaks for this one.
	tracker := status.NewTracker(status.CommandSyncOnce)
	statusOut := newStatusWriter(root.statusFile(), logger)
	statusOut.write(tracker.Snapshot())
	opts, err := root.passOptions()
	if err != nil {
		return err
	}
	cfg, err := root.loadConfig(logger)
	if err != nil {
		return err
	}
	tracker.SetSecrets(cfg.Secrets)
	opts.observer = tracker
	removeStaleTempFiles(cfg, logger)

	report, err := runPass(c.Context(), cfg, cfg.Secrets, sink.NewDisk(), opts, logger)
	if err != nil {
		return err
	}
	runChangeHooks(c.Context(), cfg.Secrets, report, logger)
	// watch keeps this field up to date, and sync --once fills it once, so
	// that isready names a rejected token once rather than for each secret.
	tracker.SetTokenErrors(rejectedLogins(report.LoginErrors))
	tracker.MarkFinished()
	statusOut.write(tracker.Snapshot())
	synced, failed, changed, unchanged, removed := report.Counts()
	logger.Info("sync finished",
		"secrets", len(report.Secrets), "synced", synced, "failed", failed,
		"files_changed", changed, "files_unchanged", unchanged, "files_removed", removed,
		"reads", report.Reads, "duration", report.Duration.Round(1e6))
	if err := report.Err(); err != nil {
		return &reportedError{err: err}
	}
	return nil
}
