package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

// noArgs rejects positional arguments as a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q; see %s --help", c.Name(), args[0], c.CommandPath())}
	}
	return nil
}
