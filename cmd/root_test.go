package cmd

import (
	"os"
	"slices"
	"testing"
)

func TestSecretFlagIgnoresEnvironment(t *testing.T) {
	for _, name := range []string{"SECRETS_SYNC_SECRET", "SECRETS_SYNC_FILE", "SECRETS_SYNC_TIMEOUT"} {
		t.Setenv(name, "") // restores the variable after the test
		os.Unsetenv(name)
	}
	// An onChange command gets SECRETS_SYNC_SECRET, the name of the secret
	// that changed.
	t.Setenv("SECRETS_SYNC_SECRET", "db")
	t.Setenv("SECRETS_SYNC_FILE", "/run/secrets/db.env")
	t.Setenv("SECRETS_SYNC_TIMEOUT", "7s")
	root, opts := newRoot(Streams{})
	render, _, err := root.Find([]string{"render"})
	if err != nil {
		t.Fatal(err)
	}
	if err := render.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if err := opts.bindFlags(render); err != nil {
		t.Fatal(err)
	}

	if got := opts.viper.GetStringSlice("secret"); len(got) != 0 {
		t.Errorf("secret = %q, want none: SECRETS_SYNC_SECRET must not select secrets", got)
	}
	if got := opts.viper.GetString("file"); got != "/run/secrets/db.env" {
		t.Errorf("file = %q, want SECRETS_SYNC_FILE's value", got)
	}
	if got := opts.viper.GetString("timeout"); got != "7s" {
		t.Errorf("timeout = %q, want SECRETS_SYNC_TIMEOUT's value", got)
	}

	if err := render.ParseFlags([]string{"--secret", "db", "--secret", "cache"}); err != nil {
		t.Fatal(err)
	}
	if got := opts.viper.GetStringSlice("secret"); !slices.Equal(got, []string{"db", "cache"}) {
		t.Errorf("secret = %q, want the two --secret flags", got)
	}
}
