//go:build !unix

package hook

import (
	"os"
	"os/exec"
)

// setProcessGroup leaves the command as it is: without Unix process
// groups, a timeout kills the command but not the processes it started.
func setProcessGroup(*exec.Cmd) {}

func signalProcess(pid int, sig os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}
