package cmd

import (
	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

func newSchemaCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the config file, for editors",
		Long: `Print a JSON Schema (draft 2020-12) of the config file on standard output, so
that an editor completes and checks the keys. Save it beside the config and
point the file at it with a comment on its first line:

  secrets-sync schema > secrets-sync.schema.json
  # yaml-language-server: $schema=secrets-sync.schema.json

The schema checks the shape of the file only; secrets-sync validate checks
the rest, such as a template key that matches no file.`,
		Example: "  secrets-sync schema > secrets-sync.schema.json",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := root.streams.Out.Write(config.Schema())
			return err
		},
	}
}
