package cmd

import (
	_ "embed"
	"io"

	"github.com/spf13/cobra"
)

// exampleConfig is the commented config that init prints. A test checks
// that validate accepts it with VAULT_ADDR and VAULT_TOKEN set.
//
//go:embed init.yaml
var exampleConfig string

func newInitCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Print a commented example config to start from",
		Long: `Print a commented example config file on standard output. It reads the
server address from VAULT_ADDR and the token from VAULT_TOKEN, and shows both
ways to give a file its content: its own template or field, and the earlier
format's template.data keyed by basename. Edit the secrets, then check it:

  secrets-sync init > config.yaml
  secrets-sync validate -c config.yaml`,
		Example: "  secrets-sync init > config.yaml",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := io.WriteString(root.streams.Out, exampleConfig)
			return err
		},
	}
}
