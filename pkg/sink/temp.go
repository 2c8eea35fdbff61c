package sink

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// A temporary file for destination BASE is named
// ".BASE.secrets-sync-XXXXXXXXXXXXXXXX.tmp", where X is a lower-case hex
// digit. The leading dot hides it from a plain ls, and the fixed parts let
// RemoveStaleTemp recognise it.
const (
	tempInfix      = ".secrets-sync-"
	tempSuffix     = ".tmp"
	tempRandomLen  = 16
	maxTempBaseLen = 200 // keeps the name under the usual 255-byte limit of a file name
	maxTempTries   = 100
)

// createTemp creates a new temporary file with mode 0600 in dir for the
// destination named base. It returns the open file and its path.
func createTemp(dir, base string) (*os.File, string, error) {
	prefix := "." + truncateName(base, maxTempBaseLen) + tempInfix
	for range maxTempTries {
		path := filepath.Join(dir, prefix+randomHex()+tempSuffix)
		f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, path, nil
	}
	return nil, "", fmt.Errorf("no unused temporary file name in %s after %d tries", dir, maxTempTries)
}

// randomHex returns tempRandomLen random lower-case hex digits.
func randomHex() string {
	s := strconv.FormatUint(rand.Uint64(), 16)
	if len(s) < tempRandomLen {
		s = strings.Repeat("0", tempRandomLen-len(s)) + s
	}
	return s
}

// truncateName cuts name to at most maxLen bytes without splitting a UTF-8
// character.
func truncateName(name string, maxLen int) string {
	if len(name) <= maxLen {
		return name
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut]
}

// isTempName reports whether name has the form of a temporary file name made
// by createTemp.
func isTempName(name string) bool {
	rest, ok := strings.CutSuffix(name, tempSuffix)
	if !ok || len(rest) < tempRandomLen {
		return false
	}
	if !isLowerHex(rest[len(rest)-tempRandomLen:]) {
		return false
	}
	rest, ok = strings.CutSuffix(rest[:len(rest)-tempRandomLen], tempInfix)
	// What remains is "." and the non-empty destination name.
	return ok && len(rest) >= 2 && rest[0] == '.'
}

// isLowerHex reports whether s is made only of lower-case hex digits.
func isLowerHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RemoveStaleTemp removes the temporary files that a crashed Write left in
// dirs. It removes only regular files and links whose name has the form
// that [Disk] uses, skips folders that do not exist, and returns the paths it
// removed. A failure on one folder or file does not stop the others, and all
// failures are joined into err.
//
// A Write in progress in one of these folders would lose its temporary
// file, so call RemoveStaleTemp before any writer starts.
func RemoveStaleTemp(dirs []string) (removed []string, err error) {
	return removeTemp(dirs, false, func(string, string) bool { return true })
}

// RemoveStaleTempFor removes the temporary files that a crashed Write left
// for the given destinations, and no others, so a second process writing
// other files into the same folder keeps its own. A destination whose
// folder is missing, or whose parent is not a folder, is skipped: the write
// itself reports that.
func RemoveStaleTempFor(destinations []string) (removed []string, err error) {
	byDir := map[string]map[string]bool{}
	var dirs []string
	for _, path := range destinations {
		dir, base := filepath.Split(filepath.Clean(path))
		if byDir[dir] == nil {
			byDir[dir] = map[string]bool{}
			dirs = append(dirs, dir)
		}
		byDir[dir]["."+truncateName(base, maxTempBaseLen)+tempInfix] = true
	}
	return removeTemp(dirs, true, func(dir, name string) bool {
		return byDir[dir][name[:len(name)-len(tempSuffix)-tempRandomLen]]
	})
}

// removeTemp removes the regular files and links in dirs that have the temporary name
// form and that match accepts. Missing folders are skipped, and so are paths
// whose parent is not a folder when skipNotDir is set. A failure on one
// folder or file does not stop the others.
func removeTemp(dirs []string, skipNotDir bool, match func(dir, name string) bool) (removed []string, err error) {
	var errs []error
	for _, dir := range dirs {
		entries, err := listFolder(dir, skipNotDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, entry := range entries {
			name := entry.Name()
			// A temporary file is a regular file, or a link made for the
			// linked layout.
			kind := entry.Type()
			if (!kind.IsRegular() && kind&fs.ModeSymlink == 0) || !isTempName(name) || !match(dir, name) {
				continue
			}
			path := filepath.Join(dir, name)
			err := os.Remove(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove stale temporary file %s: %w", path, stripPath(err)))
				continue
			}
			removed = append(removed, path)
		}
	}
	return removed, errors.Join(errs...)
}

// listFolder lists dir. A missing folder lists as empty, and so does a
// path whose parent is not a folder when skipNotDir is set.
func listFolder(dir string, skipNotDir bool) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (skipNotDir && errors.Is(err, syscall.ENOTDIR)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list folder %s: %w", dir, stripPath(err))
	}
	return entries, nil
}
