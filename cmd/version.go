package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build information, set at link time with
// -ldflags "-X github.com/secrets-sync/secrets-sync/cmd.version=...".
// The Dockerfile and .goreleaser.yaml set all three.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// versionLine returns the build information that both the version command
// and the --version flag print, without a trailing newline.
func versionLine() string {
	v, c, d := buildInfo()
	return fmt.Sprintf("secrets-sync %s (commit %s, built %s, %s %s/%s)",
		v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildInfo returns the version, commit and date. A value that -ldflags left
// at its default comes from the Go toolchain's own build information. That
// is the module version after "go install ...@v1.2.3", and the commit and
// its time after a build in a git checkout (-buildvcs).
func buildInfo() (v, c, d string) {
	v, c, d = version, commit, date
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v, c, d
	}
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if c == "unknown" {
				c = s.Value
			}
		case "vcs.time":
			if d == "unknown" {
				d = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && c != "unknown" && commit == "unknown" {
		c += "-dirty"
	}
	return v, c, d
}

func newVersionCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(root.streams.Out, versionLine())
			return err
		},
	}
}

// addVersionFlag gives the root command a --version (-v) flag that prints
// the same line as the version command. Cobra handles the flag itself,
// before any PersistentPreRun, so it needs no config file.
func addVersionFlag(root *cobra.Command) {
	root.Version = versionLine()
	root.SetVersionTemplate("{{.Version}}\n")
	root.Flags().BoolP("version", "v", false, "print the version, commit, build date and Go version, as the version command does")
}
