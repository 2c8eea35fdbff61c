package vaulttest

import (
	"os/exec"
	"syscall"
)

// setPostgresAttributes runs cmd as cred when it is not nil, and makes the
// kernel kill it when the test binary dies, as setProcessAttributes does
// for Vault. Go applies the credential before the parent-death signal, so
// the change of user does not clear the signal.
func setPostgresAttributes(cmd *exec.Cmd, cred *syscall.Credential) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
