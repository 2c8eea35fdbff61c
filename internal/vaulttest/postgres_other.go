//go:build !linux

package vaulttest

import (
	"os/exec"
	"syscall"
)

// setPostgresAttributes runs cmd as cred when it is not nil. Outside Linux
// a server whose test binary dies without running its cleanups keeps
// running.
func setPostgresAttributes(cmd *exec.Cmd, cred *syscall.Credential) {
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
}
