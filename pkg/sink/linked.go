package sink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The linked layout keeps all files of one secret in one folder DIR and
// replaces them together:
//
//	DIR/..data                               link to the current version folder
//	DIR/..2026_12_04_16_07_56.<16 hex>/NAME  the files of one version
//	DIR/NAME                                 link to ..data/NAME
//
// A new version is written in full into a new version folder, and one
// rename of a link over DIR/..data switches every file at once. This is the
// layout of a Kubernetes secret volume, so programs that watch ..data for
// changes work unchanged.
const (
	// DataLinkName is the name of the link in a linked secret's folder that
	// points to the current version folder.
	DataLinkName      = "..data"
	versionPrefix     = ".."
	versionTimeLayout = "2006_01_02_15_04_05"
	versionFolderMode = 0o755 // the files' own modes guard their content
)

// linkTarget returns the target of the link at DIR/base.
func linkTarget(base string) string {
	return DataLinkName + "/" + base
}

// writeLinked writes files in the linked layout. All files must share one
// folder. When every file matches the current version in bytes, mode and
// owner, and every link is in place, nothing is written. Otherwise every
// file goes into a new version folder, and ..data is switched to it.
//
// The link of a file that the secret no longer has is removed after the
// switch, and a Result with Removed true for it follows the per-file
// results. A link that could not be removed is reported by an error
// instead.
//
// The first write over plain files replaces them with links one after
// another, so only that first switch can show an old file beside a new one.
func (d *Disk) writeLinked(files []File) ([]Result, error) {
	dir := filepath.Dir(files[0].Path)
	for i := range files {
		if err := checkLinkedFile(&files[i], dir); err != nil {
			return nil, err
		}
	}
	current, err := currentVersion(dir)
	if err != nil {
		return nil, newWriteError("write", filepath.Join(dir, DataLinkName), err)
	}
	// One listing serves both the links of dropped files and, after a
	// switch, the version folders to remove: the new one is not in it.
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, newWriteError("stat", files[0].Path, stripPath(err))
	}
	stale := staleLinks(dir, entries, files)

	results := make([]Result, len(files))
	relink := make([]bool, len(files))
	contentChanged := false
	for i := range files {
		file := &files[i]
		results[i].Path = file.Path
		changed, linked, err := linkedNeedsWrite(file, dir, current)
		if err != nil {
			return nil, err
		}
		relink[i] = !linked
		contentChanged = contentChanged || changed
		results[i].Changed = changed || !linked
	}
	// A version that still holds a file the secret no longer has is
	// replaced by one without it.
	contentChanged = contentChanged || len(stale) > 0
	if !contentChanged && !slices.Contains(relink, true) {
		return results, nil
	}

	if err := d.makeFolders(dir, files[0].NewFolders); err != nil {
		return nil, &WriteError{Path: files[0].Path, Op: "write", Err: err}
	}
	if contentChanged {
		version, err := d.writeVersion(dir, files)
		if err != nil {
			return nil, err
		}
		if err := d.switchData(dir, version); err != nil {
			_ = os.RemoveAll(filepath.Join(dir, version))
			return nil, newWriteError("rename", files[0].Path, err)
		}
	}

	var errs []error
	for i := range files {
		if !relink[i] {
			continue
		}
		if err := d.replaceWithLink(dir, filepath.Join(dir, filepath.Base(files[i].Path)), linkTarget(filepath.Base(files[i].Path))); err != nil {
			errs = append(errs, newWriteError("rename", files[i].Path, err))
		}
	}
	for _, path := range stale {
		err := os.Remove(path)
		switch {
		case err == nil:
			results = append(results, Result{Path: path, Changed: true, Removed: true})
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, newWriteError("remove", path, err))
		}
	}
	if err := d.ops.syncDir(dir); err != nil {
		errs = append(errs, newWriteError("sync", files[0].Path, fmt.Errorf("sync folder %s: %w", dir, stripPath(err))))
	}
	if contentChanged {
		if _, err := removeVersions(dir, entries, ""); err != nil {
			errs = append(errs, newWriteError("remove", files[0].Path, err))
		}
	}
	return results, errors.Join(errs...)
}

// checkLinkedFile rejects a file that cannot take part in the linked layout
// of folder dir.
func checkLinkedFile(file *File, dir string) error {
	base := filepath.Base(file.Path)
	switch {
	case filepath.Dir(file.Path) != dir:
		return newWriteError("write", file.Path,
			fmt.Errorf("all files of a linked secret must be in one folder, and this one is not in %s", dir))
	case strings.HasPrefix(base, versionPrefix):
		return newWriteError("write", file.Path,
			fmt.Errorf("a file of a linked secret may not have a name starting with %q, which the layout uses", versionPrefix))
	}
	info, err := os.Lstat(file.Path)
	if err == nil && info.IsDir() {
		return newWriteError("write", file.Path, errIsFolder)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return newWriteError("stat", file.Path, err)
	}
	return nil
}

// currentVersion returns the name of the version folder that DIR/..data
// points to, or "" when there is no ..data link yet.
func currentVersion(dir string) (string, error) {
	path := filepath.Join(dir, DataLinkName)
	target, err := os.Readlink(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		if info, statErr := os.Lstat(path); statErr == nil && info.Mode()&fs.ModeSymlink == 0 {
			return "", errors.New("exists and is not a link to a version folder; move it away, since a linked secret keeps its versions there")
		}
		return "", stripPath(err)
	}
	if !isVersionName(target) {
		return "", fmt.Errorf("points to %q, which is not a version folder made by secrets-sync; remove the link", target)
	}
	return target, nil
}

// staleLinks returns the links among entries, the listing of dir, of the
// form NAME -> ..data/NAME whose NAME is not one of files: files that the
// secret had before. A folder holds one linked secret, so every such link is
// the secret's own.
func staleLinks(dir string, entries []fs.DirEntry, files []File) []string {
	var stale []string
	for _, entry := range entries {
		if entry.Type()&fs.ModeSymlink == 0 {
			continue
		}
		name := entry.Name()
		path := filepath.Join(dir, name)
		if slices.ContainsFunc(files, func(f File) bool { return f.Path == path }) {
			continue
		}
		if target, err := os.Readlink(path); err == nil && target == linkTarget(name) {
			stale = append(stale, path)
		}
	}
	return stale
}

// linkedNeedsWrite reports whether file differs from its copy in the
// current version folder, and whether DIR/NAME already links to it.
func linkedNeedsWrite(file *File, dir, current string) (changed, linked bool, err error) {
	base := filepath.Base(file.Path)
	if target, err := os.Readlink(file.Path); err == nil && target == linkTarget(base) && current != "" {
		linked = true
	}
	if current == "" {
		// No version yet: compare with the plain file, if any, only to keep
		// the check of empty content.
		if _, err := needsWrite(file); err != nil {
			return false, false, err
		}
		return true, linked, nil
	}
	inVersion := *file
	inVersion.Path = filepath.Join(dir, current, base)
	changed, err = needsWrite(&inVersion)
	var empty *EmptyError
	var werr *WriteError
	switch {
	case errors.As(err, &empty):
		return false, false, &EmptyError{Path: file.Path}
	case errors.As(err, &werr):
		return false, false, newWriteError(werr.Op, file.Path, werr.Err)
	}
	return changed, linked, err
}

// writeVersion creates a new version folder in dir holding every file,
// each written, given its mode and owner, and flushed, and flushes the
// folder. On failure it removes the folder again.
func (d *Disk) writeVersion(dir string, files []File) (version string, err error) {
	version, err = createVersionFolder(dir)
	if err != nil {
		return "", newWriteError("write", files[0].Path, err)
	}
	folder := filepath.Join(dir, version)
	defer func() {
		if err != nil {
			_ = os.RemoveAll(folder)
		}
	}()
	for i := range files {
		file := &files[i]
		f, err := openFile(filepath.Join(folder, filepath.Base(file.Path)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", newWriteError("write", file.Path, err)
		}
		_, err = d.fill(f, file)
		if closeErr := f.Close(); err == nil && closeErr != nil {
			err = newWriteError("write", file.Path, closeErr)
		}
		if err != nil {
			return "", err
		}
	}
	if err := d.ops.syncDir(folder); err != nil {
		return "", newWriteError("sync", files[0].Path, fmt.Errorf("sync folder %s: %w", folder, stripPath(err)))
	}
	return version, nil
}

// createVersionFolder makes a new, empty version folder in dir with mode
// versionFolderMode and returns its name. The folder keeps the set-group-ID
// bit that dir passes on, so its files get dir's group, as the files of
// the files layout do.
func createVersionFolder(dir string) (string, error) {
	stamp := time.Now().UTC().Format(versionTimeLayout)
	for range maxTempTries {
		name := versionPrefix + stamp + "." + randomHex()
		path := filepath.Join(dir, name)
		err := os.Mkdir(path, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create version folder in %s: %w", dir, stripPath(err))
		}
		// Mkdir applies the umask, so the mode is set again.
		info, err := os.Lstat(path)
		if err == nil {
			err = os.Chmod(path, versionFolderMode|info.Mode()&fs.ModeSetgid)
		}
		if err != nil {
			_ = os.Remove(path)
			return "", fmt.Errorf("set mode of version folder %s: %w", path, stripPath(err))
		}
		return name, nil
	}
	return "", fmt.Errorf("no unused version folder name in %s after %d tries", dir, maxTempTries)
}

// isVersionName reports whether name has the form that createVersionFolder
// gives a version folder.
func isVersionName(name string) bool {
	rest, ok := strings.CutPrefix(name, versionPrefix)
	if !ok || len(rest) != len(versionTimeLayout)+1+tempRandomLen || rest[len(versionTimeLayout)] != '.' {
		return false
	}
	if _, err := time.Parse(versionTimeLayout, rest[:len(versionTimeLayout)]); err != nil {
		return false
	}
	return isLowerHex(rest[len(versionTimeLayout)+1:])
}

// switchData points DIR/..data at version with one rename.
func (d *Disk) switchData(dir, version string) error {
	return d.replaceWithLink(dir, filepath.Join(dir, DataLinkName), version)
}

// replaceWithLink puts a link to target at path: it creates the link under
// a temporary name in dir and renames it over path.
func (d *Disk) replaceWithLink(dir, path, target string) error {
	temp, err := createTempLink(dir, filepath.Base(path), target)
	if err != nil {
		return err
	}
	if err := d.ops.rename(temp, path); err != nil {
		_ = os.Remove(temp)
		return err
	}
	return nil
}

// createTempLink creates a link to target under a new temporary name for
// the destination named base, and returns its path.
func createTempLink(dir, base, target string) (string, error) {
	prefix := "." + truncateName(base, maxTempBaseLen) + tempInfix
	for range maxTempTries {
		path := filepath.Join(dir, prefix+randomHex()+tempSuffix)
		err := os.Symlink(target, path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return path, nil
	}
	return "", fmt.Errorf("no unused temporary link name in %s after %d tries", dir, maxTempTries)
}

// removeVersions removes every version folder among entries, a listing of
// dir, except the one named keep, and returns the folders it removed. After
// a switch, entries is the listing taken before it, so it contains the version
// just replaced and any that a crash left, but not the new one.
func removeVersions(dir string, entries []fs.DirEntry, keep string) (removed []string, err error) {
	var errs []error
	for _, entry := range entries {
		name := entry.Name()
		if !entry.IsDir() || !isVersionName(name) || name == keep {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, fmt.Errorf("remove old version folder %s: %w", path, stripPath(err)))
			continue
		}
		removed = append(removed, path)
	}
	return removed, errors.Join(errs...)
}

// RemoveStaleVersions removes the version folders in each linked folder of
// dirs that its ..data link does not point to: the ones that a crash left
// behind, before or after its switch. A folder without ..data keeps no
// version, so all of its version folders go. A folder whose ..data is not
// a link to a version folder is left alone, since its next write reports
// that. Missing folders are skipped. It returns the folders it removed,
// and the failures joined.
//
// A write in progress in one of these folders would lose its new version,
// so call RemoveStaleVersions before any writer starts.
func RemoveStaleVersions(dirs []string) (removed []string, err error) {
	var errs []error
	for _, dir := range dirs {
		current, err := currentVersion(dir)
		if err != nil {
			continue
		}
		entries, err := listFolder(dir, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		folders, err := removeVersions(dir, entries, current)
		removed = append(removed, folders...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
