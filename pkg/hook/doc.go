// Package hook runs the onChange of a secret after its files changed: a
// command, run without a shell and with a timeout, then a signal to the
// process whose id is in a pid file. Both get only names and paths: the
// command finds the changed paths in SECRETS_SYNC_CHANGED_FILES, one per
// line, and the secret's name in SECRETS_SYNC_SECRET. No secret value is
// passed on its command line or in its environment.
package hook
