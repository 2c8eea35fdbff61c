package cmd

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

func TestPassOptionsInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"timeout from the variable", nil, map[string]string{"SECRETS_SYNC_TIMEOUT": "banana"}, `invalid --timeout or SECRETS_SYNC_TIMEOUT "banana"`},
		{"negative timeout", []string{"--timeout", "-1s"}, nil, `invalid --timeout or SECRETS_SYNC_TIMEOUT "-1s"`},
		{"concurrency zero", []string{"--concurrency", "0"}, nil, `invalid --concurrency or SECRETS_SYNC_CONCURRENCY "0"`},
		{"concurrency from the variable", nil, map[string]string{"SECRETS_SYNC_CONCURRENCY": "many"}, `"many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"SECRETS_SYNC_TIMEOUT", "SECRETS_SYNC_CONCURRENCY"} {
				t.Setenv(name, "") // restores the variable after the test
				os.Unsetenv(name)
			}
			for name, value := range tt.env {
				t.Setenv(name, value)
			}
			opts := &rootOptions{viper: viper.New()}
			c := &cobra.Command{Use: "sync"}
			opts.addPassFlags(c)
			if err := c.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := opts.bindFlags(c); err != nil {
				t.Fatal(err)
			}

			_, err := opts.passOptions()

			var usage *usageError
			if !errors.As(err, &usage) {
				t.Fatalf("error %v is not a usage error, so it would not exit 2", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
