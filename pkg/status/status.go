// Package status keeps the live sync state of each secret, decides whether
// the process is ready, and reads and writes the status file that the
// isready command checks.
//
// A status holds secret names, states, times, counts and error messages.
// It never holds a secret value or a token: the engine's errors contain
// neither, and nothing else is copied into it.
package status

import (
	"fmt"
	"strings"
	"time"
)

// Commands that write a status file.
const (
	CommandWatch    = "watch"
	CommandSyncOnce = "sync --once"
)

// State is the sync state of one secret.
type State string

// States of a secret.
const (
	// StatePending is a secret that no pass has finished yet.
	StatePending State = "pending"
	// StateSynced is a secret whose last pass wrote or confirmed every file.
	StateSynced State = "synced"
	// StateFailed is a secret whose last pass failed. Its files from the
	// last success, if any, are still in place.
	StateFailed State = "failed"
)

// Status is a snapshot of the process and its secrets, as written to the
// status file and served by /readyz.
type Status struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"startedAt"`
	// Command is CommandWatch or CommandSyncOnce.
	Command   string    `json:"command"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Finished is true once the pass of a sync --once run is over. It
	// stays false for watch.
	Finished bool `json:"finished"`
	// TokenError is the last token failure (renewal or login), or "" when
	// the token is fine. With several credential sets failing it joins
	// their messages with "; ".
	TokenError string `json:"tokenError"`
	// TokenErrors contains the message of each failing credential set that
	// TokenError joins, so that a secret's error can be matched to one.
	TokenErrors []string       `json:"tokenErrors,omitempty"`
	Secrets     []SecretStatus `json:"secrets"`
}

// SecretStatus is the state of one secret. Times are zero, and left out of
// the JSON, until the event has happened.
type SecretStatus struct {
	Name        string    `json:"name"`
	State       State     `json:"state"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastError is the message of the last failure, cleared by a success.
	LastError string `json:"lastError,omitempty"`
	// Files is the number of files the secret writes.
	Files int `json:"files"`
	// ChangedFiles is the number of files written in the last pass, not
	// counting files whose content, mode and owner already matched, nor
	// the links of files that were dropped from a linked secret. watch
	// rewrites the file only when a state changes, so there it is the
	// count of the last round that was written.
	ChangedFiles int `json:"changedFiles"`
	// Stale is true when the secret has failed for longer than
	// MaxStaleSeconds since its last success, judged when the snapshot
	// was taken.
	Stale bool `json:"stale"`
	// MaxStaleSeconds is the secret's maxStale setting, and 0 means it
	// never becomes stale. It is stored so that a reader of the file can
	// judge staleness at its own time.
	MaxStaleSeconds float64 `json:"maxStaleSeconds,omitempty"`
}

// maxStale returns MaxStaleSeconds as a duration.
func (s SecretStatus) maxStale() time.Duration {
	return time.Duration(s.MaxStaleSeconds * float64(time.Second))
}

// staleAt reports whether the secret is stale at now: it is failing, it
// has succeeded before, it has a maxStale, and more than that has passed
// since the last success.
func (s SecretStatus) staleAt(now time.Time) bool {
	limit := s.maxStale()
	if s.State != StateFailed || limit <= 0 || s.LastSuccess.IsZero() {
		return false
	}
	return now.Sub(s.LastSuccess) > limit
}

// Ready reports whether every secret has synced at least once, none is
// stale at now, and the token is fine. When it is not ready, it returns one
// reason per secret or token problem, with names and error messages but no
// values. Ready ignores Finished and PID, which the isready command checks.
func (s Status) Ready(now time.Time) (bool, []string) {
	var reasons []string
	if s.TokenError != "" {
		reasons = append(reasons, "token: "+s.TokenError)
	}
	tokenErrors := s.TokenErrors
	if len(tokenErrors) == 0 && s.TokenError != "" {
		tokenErrors = []string{s.TokenError}
	}
	for _, secret := range s.Secrets {
		if failedWithToken(secret.LastError, tokenErrors) {
			// The secret failed with the token, so its reason points up to
			// the token line instead of repeating it.
			secret.LastError = "the token error above"
		}
		if reason := secret.notReadyReason(now); reason != "" {
			reasons = append(reasons, reason)
		}
	}
	return len(reasons) == 0, reasons
}

// failedWithToken reports whether message contains one of tokenErrors.
func failedWithToken(message string, tokenErrors []string) bool {
	for _, tokenErr := range tokenErrors {
		if tokenErr != "" && strings.Contains(message, tokenErr) {
			return true
		}
	}
	return false
}

// notReadyReason returns why the secret keeps the process from being
// ready, or "" when it does not.
func (s SecretStatus) notReadyReason(now time.Time) string {
	switch {
	case s.LastSuccess.IsZero() && s.State == StateFailed:
		return fmt.Sprintf("secret %q has never synced: %s", s.Name, errorText(s.LastError))
	case s.LastSuccess.IsZero():
		return fmt.Sprintf("secret %q has not synced yet", s.Name)
	case s.Stale || s.staleAt(now):
		return fmt.Sprintf("secret %q is stale: failing since its last success at %s, longer than its maxStale of %s: %s",
			s.Name, s.LastSuccess.UTC().Format(time.RFC3339), s.maxStale(), errorText(s.LastError))
	}
	return ""
}

// errorText returns message on one line, or a placeholder when it is empty.
func errorText(message string) string {
	if message == "" {
		return "no error recorded"
	}
	return strings.Join(strings.Fields(message), " ")
}
