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

// openFolderFlags open a folder for reading its attributes and fail on
// anything else, a symbolic link included.
const openFolderFlags = syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NOFOLLOW

// syncFolder flushes the entries of folder dir to stable storage, which
// makes a rename or a new entry in it durable.
func syncFolder(dir string) error {
	f, err := openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// openFile opens path like os.OpenFile, but without offering the file to
// Go's network poller. For a regular file or a folder os.OpenFile (Go 1.26
// on Linux) sets O_NONBLOCK, fails to add the descriptor to epoll, and
// clears O_NONBLOCK again: four system calls more than this, for every
// temporary file and every folder sync. perm is used only with O_CREATE.
func openFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// renameFile renames the regular file oldPath to newPath with one
// rename(2). os.Rename first calls Lstat on newPath to reject a folder,
// which rename(2) rejects too when oldPath is a file (EISDIR).
func renameFile(oldPath, newPath string) error {
	for {
		err := syscall.Rename(oldPath, newPath)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
		}
		return nil
	}
}
