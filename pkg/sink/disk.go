package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Disk is the sink that writes each file to its real destination, File.Path.
//
// A Write call first stages every changed file in a temporary file next to
// its destination. Staging writes the content, sets the mode with fchmod, so
// the umask has no effect, and sets the owner with fchown when File.UID or
// File.GID is at least 0. It then flushes the file with fsync. If any file
// fails to stage, all temporary files are removed and no destination
// changes. Only when all are staged does Write rename each temporary file
// over its destination and flush each destination folder with fsync.
// Write returns only after an fsync of each folder that started after its
// renames, and concurrent calls that rename into the same folder share one.
//
// On Linux a file on tmpfs or ramfs, which keep files in memory only, is
// not flushed, and neither is its folder: fsync does nothing there, and
// skipping it saves the system calls. The file system of each temporary
// file is checked on its own, so a folder that later becomes a mount point
// of a disk is flushed again.
//
// Renames of different files are separate system calls, so a crash or a
// rename failure partway through can leave some files of the call replaced
// and others not. Each single file is always either wholly old or wholly new.
//
// A destination that is a symbolic link, device or other non-regular file is
// replaced by the rename. The target of a symbolic link is never written.
//
// Files marked [File.Linked] are instead written in the linked layout, in
// which the files of a call share one folder and change together: they are
// links into a version folder, and one rename switches every file to the
// next version. A file that an earlier call had and this one lacks loses
// its link, which Write reports with a Result whose Removed is true.
//
// Disk is safe for concurrent Write calls that name different destinations.
type Disk struct {
	ops     fileOps
	flusher folderFlusher
}

// fileOps holds the system calls that tests replace to inject failures or
// to record the order of steps.
type fileOps struct {
	chown    func(f *os.File, uid, gid int) error
	syncFile func(f *os.File) error
	syncDir  func(dir string) error
	rename   func(oldPath, newPath string) error
	// inMemory reports whether f is on a file system where fsync does
	// nothing, so that the file and its folder need no flush.
	inMemory func(f *os.File) bool
}

// NewDisk returns a sink that writes to the real destinations.
func NewDisk() *Disk {
	return &Disk{ops: fileOps{
		chown:    (*os.File).Chown,
		syncFile: (*os.File).Sync,
		syncDir:  syncFolder,
		rename:   renameFile,
		inMemory: inMemoryFS,
	}}
}

// Write writes files to their destinations as described on [Disk].
// It returns ctx.Err() without touching the disk if ctx is already done, and
// otherwise finishes the call even if ctx is cancelled meanwhile.
//
// On a staging error the results are nil and no destination changed. On a
// rename or folder fsync error the results list every file, and
// Result.Changed is true for the files already replaced. In the linked
// layout the results of the links removed so far follow.
func (d *Disk) Write(ctx context.Context, secret string, files []File) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.writeFiles(files)
}

// modeBits are the bits of fs.FileMode that chmod sets on a regular file.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// stagedFile is a temporary file that is ready to be renamed over files[index].
// inMemory is true when its folder needs no fsync after the rename.
type stagedFile struct {
	index    int
	temp     string
	inMemory bool
}

// folderSync is a destination folder to flush after the renames, with the
// first file replaced in it, which names the folder in errors.
type folderSync struct {
	dir  string
	path string
}

func (d *Disk) writeFiles(files []File) ([]Result, error) {
	if len(files) == 0 {
		return nil, nil
	}
	if err := validateFiles(files); err != nil {
		return nil, err
	}
	if files[0].Linked {
		return d.writeLinked(files)
	}

	results := make([]Result, len(files))
	staged := make([]stagedFile, 0, len(files))
	renamed := 0
	// Removes every temporary file that was not renamed over its destination,
	// on every return path.
	defer func() {
		for _, s := range staged[renamed:] {
			_ = os.Remove(s.temp)
		}
	}()

	for i := range files {
		file := &files[i]
		results[i].Path = file.Path

		changed, err := needsWrite(file)
		if err != nil {
			return nil, err
		}
		if !changed {
			continue
		}

		temp, inMemory, err := d.stage(file)
		if temp != "" {
			staged = append(staged, stagedFile{index: i, temp: temp, inMemory: inMemory})
		}
		if err != nil {
			return nil, err
		}
	}

	var syncs []folderSync
	for _, s := range staged {
		path := files[s.index].Path
		if err := d.ops.rename(s.temp, path); err != nil {
			renameErr := newWriteError("rename", path, err)
			return results, errors.Join(renameErr, d.syncFolders(syncs))
		}
		renamed++
		results[s.index].Changed = true
		if !s.inMemory {
			syncs = addFolderSync(syncs, path)
		}
	}
	if err := d.syncFolders(syncs); err != nil {
		return results, err
	}
	return results, nil
}

// validateFiles checks the fields that the engine guarantees, so a bug
// upstream becomes an error instead of a write to an unexpected place.
func validateFiles(files []File) error {
	var seen map[string]struct{}
	if len(files) > 1 {
		seen = make(map[string]struct{}, len(files))
	}
	for i := range files {
		file := &files[i]
		switch {
		case !filepath.IsAbs(file.Path):
			return newWriteError("write", file.Path, errors.New("destination path is not absolute"))
		case filepath.Clean(file.Path) != file.Path:
			return newWriteError("write", file.Path, fmt.Errorf("destination path is not clean, expected %s", filepath.Clean(file.Path)))
		case file.Mode&^fs.ModePerm != 0:
			return newWriteError("write", file.Path,
				fmt.Errorf("mode %#o has bits outside the permission bits 0777", uint32(file.Mode)))
		case file.UID < -1 || file.GID < -1:
			return newWriteError("write", file.Path,
				fmt.Errorf("invalid uid %d or gid %d, expected -1 (do not set) or an id of at least 0", file.UID, file.GID))
		}
		if file.Linked != files[0].Linked {
			return newWriteError("write", file.Path, errors.New("some files of one write are linked and others are not"))
		}
		if seen == nil {
			continue
		}
		if _, ok := seen[file.Path]; ok {
			return newWriteError("write", file.Path, errors.New("destination is listed twice in one write"))
		}
		seen[file.Path] = struct{}{}
	}
	return nil
}

// needsWrite reports whether the destination differs from file in bytes,
// mode or requested owner. It returns an *EmptyError when empty content
// would replace a non-empty regular file that does not allow it.
func needsWrite(file *File) (bool, error) {
	info, err := os.Lstat(file.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, newWriteError("stat", file.Path, err)
	}
	if info.IsDir() {
		return false, newWriteError("write", file.Path, errIsFolder)
	}
	if !info.Mode().IsRegular() {
		return true, nil
	}
	if len(file.Content) == 0 && info.Size() > 0 && !file.AllowEmpty {
		return false, &EmptyError{Path: file.Path}
	}
	if info.Size() != int64(len(file.Content)) || info.Mode()&modeBits != file.Mode {
		return true, nil
	}
	if !ownerMatches(info, file.UID, file.GID) {
		return true, nil
	}
	same, err := contentEquals(file.Path, file.Content)
	if err != nil {
		// An unreadable destination, for example one with mode 0000 while not
		// running as root, is replaced rather than compared.
		return true, nil
	}
	return !same, nil
}

// contentEquals reports whether the file at path contains exactly content.
func contentEquals(path string, content []byte) (bool, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()

	// One byte more than expected detects a file that grew since Lstat.
	buf := make([]byte, len(content)+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	return n == len(content) && bytes.Equal(buf[:n], content), nil
}

// stage writes file into a new temporary file in its destination folder,
// creating missing parent folders first. It returns the temporary file's
// path whenever that file was created, even together with an error, so the
// caller can remove it, and whether the file is on a file system that
// needs no fsync.
func (d *Disk) stage(file *File) (temp string, inMemory bool, err error) {
	dir := filepath.Dir(file.Path)
	base := filepath.Base(file.Path)
	f, temp, err := createTemp(dir, base)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// The folder is checked only when the file cannot be created, which
		// saves a stat for every write into a folder that exists.
		if err := d.makeFolders(dir, file.NewFolders); err != nil {
			return "", false, &WriteError{Path: file.Path, Op: "write", Err: err}
		}
		f, temp, err = createTemp(dir, base)
	}
	if err != nil {
		return "", false, newWriteError("write", file.Path, err)
	}
	inMemory, err = d.fill(f, file)
	if closeErr := f.Close(); err == nil && closeErr != nil {
		err = newWriteError("write", file.Path, closeErr)
	}
	return temp, inMemory, err
}

// fill writes the content, mode and owner of file into the open temporary
// file f and flushes it, unless f is on a file system that keeps files in
// memory only, which fill reports. Setting the mode and owner before fsync
// makes them as durable as the content.
func (d *Disk) fill(f *os.File, file *File) (inMemory bool, err error) {
	if _, err := f.Write(file.Content); err != nil {
		return false, newWriteError("write", file.Path, err)
	}
	if err := f.Chmod(file.Mode); err != nil {
		return false, newWriteError("chmod", file.Path, err)
	}
	if file.UID >= 0 || file.GID >= 0 {
		if err := d.ops.chown(f, file.UID, file.GID); err != nil {
			return false, &WriteError{Path: file.Path, Op: "chown", Err: ownerCause(file.UID, file.GID, stripPath(err))}
		}
	}
	if d.ops.inMemory(f) {
		return true, nil
	}
	if err := d.ops.syncFile(f); err != nil {
		return false, newWriteError("sync", file.Path, err)
	}
	return false, nil
}

// ownerCause explains a failed chown to uid and gid.
func ownerCause(uid, gid int, err error) error {
	if isPermission(err) {
		return &OwnerError{UID: uid, GID: gid, Err: err}
	}
	return fmt.Errorf("cannot set %s: %w", describeOwner(uid, gid), err)
}

// makeFolders creates dir and its missing parents, each with the mode,
// owner and group that folders gives it, or mode 0700 and the process's
// owner, and flushes the folder that received each new entry. A new folder
// keeps the set-group-ID bit that a parent with the bit passes on, so the
// files in it get the parent's group, as files written straight into the
// parent do. Folders that already exist keep their mode and owner.
func (d *Disk) makeFolders(dir string, folders map[string]FolderAttrs) error {
	info, err := os.Stat(dir)
	if err == nil {
		if !info.IsDir() {
			return fmt.Errorf("parent %s is not a folder", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check parent folder %s: %w", dir, stripPath(err))
	}

	parent := filepath.Dir(dir)
	if parent != dir {
		if err := d.makeFolders(parent, folders); err != nil {
			return err
		}
	}

	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another writer created it meanwhile, or it is a dangling
			// symbolic link, which Stat reports as missing.
			if info, statErr := os.Stat(dir); statErr == nil && info.IsDir() {
				return nil
			}
			return fmt.Errorf("parent %s exists but is not a folder", dir)
		}
		return fmt.Errorf("create folder %s: %w", dir, stripPath(err))
	}
	attrs, ok := folders[dir]
	if !ok {
		attrs = FolderAttrs{UID: -1, GID: -1}
	}
	if attrs.Mode == 0 {
		attrs.Mode = 0o700
	}
	if err := d.setFolderAttrs(dir, attrs); err != nil {
		return err
	}
	if err := d.ops.syncDir(parent); err != nil {
		return fmt.Errorf("sync folder %s: %w", parent, stripPath(err))
	}
	return nil
}

// setFolderAttrs gives the folder dir, which this process has just created,
// the owner, group and mode of attrs. The mode keeps the set-group-ID bit
// that the folder got from its parent. It works on an open descriptor, so
// a folder that another process puts in dir's place meanwhile is never
// changed.
//
// A chown that the process lacks the privilege for leaves the folder with
// the process's owner and group. That happens only when the chown of the
// files below, which names the same ids, fails too and reports the cause.
func (d *Disk) setFolderAttrs(dir string, attrs FolderAttrs) error {
	f, err := openFile(dir, openFolderFlags, 0)
	if err != nil {
		return fmt.Errorf("open new folder %s: %w", dir, stripPath(err))
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check new folder %s: %w", dir, stripPath(err))
	}
	if attrs.UID >= 0 || attrs.GID >= 0 {
		err := d.ops.chown(f, attrs.UID, attrs.GID)
		if err != nil && !isPermission(err) {
			return fmt.Errorf("new folder %s: cannot set %s: %w", dir, describeOwner(attrs.UID, attrs.GID), stripPath(err))
		}
	}
	// Mkdir applies the umask, so the mode is set again. The chown comes
	// first, because a chown may clear the set-group-ID bit.
	if err := f.Chmod(attrs.Mode | info.Mode()&fs.ModeSetgid); err != nil {
		return fmt.Errorf("set mode of new folder %s: %w", dir, stripPath(err))
	}
	return nil
}

// addFolderSync adds the folder of path to syncs unless it is listed.
func addFolderSync(syncs []folderSync, path string) []folderSync {
	dir := filepath.Dir(path)
	for _, s := range syncs {
		if s.dir == dir {
			return syncs
		}
	}
	return append(syncs, folderSync{dir: dir, path: path})
}

// syncFolders flushes each folder in syncs and joins the errors.
func (d *Disk) syncFolders(syncs []folderSync) error {
	var errs []error
	for _, s := range syncs {
		if err := d.flusher.flush(s.dir, d.ops.syncDir); err != nil {
			errs = append(errs, newWriteError("sync", s.path, fmt.Errorf("sync folder %s: %w", s.dir, stripPath(err))))
		}
	}
	return errors.Join(errs...)
}
