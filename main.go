// Command secrets-sync writes secrets from HashiCorp Vault or OpenBao to
// files. See README.md for the commands, the config file and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/secrets-sync/secrets-sync/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx, os.Args[1:], cmd.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
