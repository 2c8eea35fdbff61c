package cmd

import (
	"errors"
	"path/filepath"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
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

With --once it stops after one pass, for init containers and scripts.
` + exitCodesHelp,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runSync(c, root)
		},
	}
	c.Flags().Bool("once", false, "stop after one pass")
	root.addPassFlags(c)
	return c
}

func runSync(c *cobra.Command, root *rootOptions) error {
	if !root.viper.GetBool("once") {
		// NOTE: continuous sync (the watch loop) is not built yet.
		return &usageError{errors.New("sync without --once keeps files fresh, which this build does not support yet; run sync --once")}
	}
	logger, err := root.logger(log.InfoLevel)
	if err != nil {
		return err
	}
	opts, err := root.passOptions()
	if err != nil {
		return err
	}
	cfg, err := root.loadConfig(logger)
	if err != nil {
		return err
	}
	var dirs []string
	seen := map[string]bool{}
	for _, s := range cfg.Secrets {
		for _, f := range s.Files {
			if dir := filepath.Dir(f.Path); !seen[dir] {
				seen[dir] = true
				dirs = append(dirs, dir)
			}
		}
	}
	removed, err := sink.RemoveStaleTemp(dirs)
	for _, path := range removed {
		logger.Info("removed temp file left by an earlier run", "file", path)
	}
	if err != nil {
		logger.Warn("could not remove temp files left by an earlier run", "err", err)
	}

	report, err := runPass(c.Context(), cfg, cfg.Secrets, sink.NewDisk(), opts, logger)
	if err != nil {
		return err
	}
	synced, failed, changed, unchanged := report.Counts()
	logger.Info("sync finished",
		"secrets", len(report.Secrets), "synced", synced, "failed", failed,
		"files_changed", changed, "files_unchanged", unchanged,
		"reads", report.Reads, "duration", report.Duration.Round(1e6))
	if err := report.Err(); err != nil {
		return &reportedError{err}
	}
	return nil
}
