package engine

import (
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

// Observer receives the outcome of each read and each secret of a pass, for
// the status file, readiness and metrics. Calls come from many goroutines
// at once. An Observer must never record secret data: it gets names, paths,
// errors and durations only.
type Observer interface {
	// ReadDone reports one read sent to the server for the named secrets
	// (several when the read was shared), with its duration and error.
	ReadDone(secrets []string, duration time.Duration, err error)
	// SecretDone reports the end of one secret in a pass: its files, or
	// the error that stopped it.
	SecretDone(secret string, files []sink.Result, err error)
}

// nopObserver is the Observer of a pass that sets none.
type nopObserver struct{}

func (nopObserver) ReadDone([]string, time.Duration, error) {}
func (nopObserver) SecretDone(string, []sink.Result, error) {}
