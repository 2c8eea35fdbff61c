//go:build !linux

package vaulttest

import "os/exec"

// setProcessAttributes does nothing outside Linux, so a server whose test
// binary dies without running its cleanups keeps running there.
func setProcessAttributes(cmd *exec.Cmd) {}
