//go:build !unix

package status

import "os"

// ProcessAlive reports whether a process with this pid exists. A pid below
// 1 is never alive.
//
// NOTE: on systems other than Unix this relies on os.FindProcess failing
// for a missing process, which holds on Windows but is untested here.
func ProcessAlive(pid int) bool {
	if pid < 1 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
