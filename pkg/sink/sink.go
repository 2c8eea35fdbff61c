package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// File is one rendered destination file.
type File struct {
	Path       string      // destination, absolute and clean (the engine resolves it)
	Dest       string      // destination as written in the config, cleaned (used for headers and --output-dir)
	Content    []byte      // rendered bytes
	Mode       fs.FileMode // permission bits only, e.g. 0600
	UID, GID   int         // -1 means "do not set"
	AllowEmpty bool        // permits empty Content to replace a non-empty file
	// Linked makes [Disk] write the files of the call in the linked
	// layout, all in one folder and replaced together. It must be the same
	// for every file of a call. [Folder] and [Stream] ignore it.
	Linked bool
	// NewFolders gives the mode, owner and group of each folder that Disk
	// creates for the file, keyed by the folder's path. A folder it does
	// not name gets mode 0700 and keeps the owner and group it was created
	// with.
	NewFolders map[string]FolderAttrs
}

// FolderAttrs is the mode, owner and group that [Disk] gives a folder it
// creates.
type FolderAttrs struct {
	Mode     fs.FileMode // permission bits only; the set-group-ID bit comes from the parent
	UID, GID int         // -1 means "do not set", as in [File]
}

// Result is the outcome for one file of a Write call.
type Result struct {
	Path string
	// Changed is false when the file was already on disk with the same
	// bytes, mode and owner, so nothing was written. It is true for a
	// written file and for a removed one.
	Changed bool
	// Removed marks a file that the call deleted because the secret no
	// longer has it, such as the link of a file dropped from a linked
	// secret. Changed is true too.
	Removed bool
}

// Sink receives all rendered files of one secret at once.
//
// Write returns one Result per file, in the order of files. Results with
// Removed true may follow them, one per path that the call deleted. Only
// [Disk] returns such results, in the linked layout.
type Sink interface {
	Write(ctx context.Context, secret string, files []File) ([]Result, error)
}

// WriteError is a failure to write one destination file.
type WriteError struct {
	Path string // destination file
	Op   string // step that failed: "stat", "write", "chmod", "chown", "rename", "sync" or "remove"
	Err  error
}

func (e *WriteError) Error() string {
	return e.Op + " " + e.Path + ": " + e.Err.Error()
}

func (e *WriteError) Unwrap() error { return e.Err }

// EmptyError is the rejection of a render that would replace a non-empty
// file with an empty one while the file's AllowEmpty is false.
type EmptyError struct {
	Path string
}

func (e *EmptyError) Error() string {
	return "rendered content for " + e.Path + " is empty but the file on disk is not, so it was not replaced " +
		"(set `allowEmpty: true` on that file if an empty file is intended)"
}

// OwnerError is the failure of a chown that the process lacks the privilege
// for (EPERM or EACCES). It is the Err of a [WriteError] with Op "chown".
type OwnerError struct {
	UID, GID int // requested ids, -1 for "do not set"
	Err      error
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("cannot set %s: %v. Setting the owner or group of a file needs root or CAP_CHOWN. "+
		"Without them, leave owner and group unset, run secrets-sync with a group that the reading process also has "+
		"(for example the container's group), and give the file a mode such as 0640",
		describeOwner(e.UID, e.GID), e.Err)
}

func (e *OwnerError) Unwrap() error { return e.Err }

func describeOwner(uid, gid int) string {
	switch {
	case uid >= 0 && gid >= 0:
		return fmt.Sprintf("owner to uid %d and group to gid %d", uid, gid)
	case uid >= 0:
		return fmt.Sprintf("owner to uid %d", uid)
	default:
		return fmt.Sprintf("group to gid %d", gid)
	}
}

// errIsFolder is the Err of a WriteError whose destination is a folder.
var errIsFolder = errors.New("destination is an existing folder, expected a file")

// newWriteError builds a WriteError for path. It drops the *fs.PathError,
// *os.LinkError or *os.SyscallError wrapper of err, because those name the
// temporary file rather than the destination, and keeps the cause.
func newWriteError(op, path string, err error) *WriteError {
	return &WriteError{Path: path, Op: op, Err: stripPath(err)}
}

func stripPath(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	case *os.SyscallError:
		return e.Err
	}
	return err
}

// isPermission reports whether err is EPERM or EACCES.
func isPermission(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
}

// ChangedPaths returns the paths of the results with Changed true, written
// and removed files alike, in the order of results.
func ChangedPaths(results []Result) []string {
	var paths []string
	for _, r := range results {
		if r.Changed {
			paths = append(paths, r.Path)
		}
	}
	return paths
}
