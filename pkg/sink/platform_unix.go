//go:build unix

package sink

import (
	"io/fs"
	"os"
	"syscall"
)

// ownerMatches reports whether info has the requested uid and gid, where -1
// matches any id.
func ownerMatches(info fs.FileInfo, uid, gid int) bool {
	if uid < 0 && gid < 0 {
		return true
	}
	stat, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return (uid < 0 || int(stat.Uid) == uid) && (gid < 0 || int(stat.Gid) == gid)
}

// syncFolder flushes the entries of folder dir to stable storage, which
// makes a rename or a new entry in it durable.
func syncFolder(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}
