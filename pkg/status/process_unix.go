//go:build unix

package status

import (
	"errors"
	"syscall"
)

// ProcessAlive reports whether a process with this pid exists, by sending
// it signal 0. EPERM means it exists but belongs to another user, so it
// counts as alive. A pid below 1 is never alive, because signal 0 to 0 or
// -1 would reach a whole process group.
//
// NOTE: a pid is only meaningful in the PID namespace that wrote it, so the
// check must run in the same container as the watch process.
func ProcessAlive(pid int) bool {
	if pid < 1 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
