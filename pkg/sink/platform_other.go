//go:build !unix

package sink

import (
	"io/fs"
	"os"
)

// ownerMatches reports whether info has the requested uid and gid. Without
// unix ownership it matches only when no id is requested.
func ownerMatches(info fs.FileInfo, uid, gid int) bool {
	return uid < 0 && gid < 0
}

// openFolderFlags open a folder for reading its attributes.
const openFolderFlags = os.O_RDONLY

// syncFolder does nothing outside unix.
// NOTE: so on these systems a rename may not survive a power loss.
func syncFolder(dir string) error {
	return nil
}

// openFile is os.OpenFile outside unix.
func openFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// renameFile is os.Rename outside unix.
func renameFile(oldPath, newPath string) error {
	return os.Rename(oldPath, newPath)
}
