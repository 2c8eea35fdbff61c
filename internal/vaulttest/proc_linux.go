package vaulttest

import (
	"os/exec"
	"syscall"
)

// setProcessAttributes makes the kernel kill the server when the test binary
// dies, for example when go test ends it after -timeout and no cleanup runs.
//
// NOTE: Linux sends the signal when the OS thread that started the child
// exits, not the whole process. The Go runtime ends a thread only when a
// goroutine exits while locked with runtime.LockOSThread, which tests that
// call Start should not do.
func setProcessAttributes(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
