package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Layouts of a secret's files on disk. LayoutFiles writes each file in its
// place, replacing one file after another. LayoutLinked keeps all files of
// the secret in one folder as links into a version folder, so one rename
// replaces them all at once, as in a Kubernetes secret volume.
const (
	LayoutFiles  = "files"
	LayoutLinked = "linked"
)

// linkedReserved starts the names that the linked layout uses itself:
// ..data and the version folders.
const linkedReserved = ".."

// resolveLayout sets s.Layout and checks that the files of a linked secret
// can share one folder that no other linked secret uses.
func (r *resolver) resolveLayout(rs *rawSecret, s *Secret) {
	p := joinPath(rs.path, "layout")
	switch strings.ToLower(strings.TrimSpace(rs.layout.v)) {
	case "", LayoutFiles:
		s.Layout = LayoutFiles
		return
	case LayoutLinked:
		s.Layout = LayoutLinked
	default:
		r.errorAt(rs.layout.at, p, "layout %q is not supported; use files (the default) or linked (all files in one folder, replaced together)", rs.layout.v)
		return
	}
	if len(s.Files) == 0 {
		return
	}

	dir := filepath.Dir(s.Files[0].Path)
	for _, f := range s.Files {
		if other := filepath.Dir(f.Path); other != dir {
			r.errorAt(f.Pos, p, "layout linked keeps every file of a secret in one folder, but %s is in %s and %s is in %s; move the files into one folder, or remove layout",
				s.Files[0].Dest, dir, f.Dest, other)
			return
		}
		if strings.HasPrefix(filepath.Base(f.Path), linkedReserved) {
			r.errorAt(f.Pos, p, "layout linked uses the names starting with %q in %s for itself, so the file %s cannot have that name; rename it",
				linkedReserved, dir, f.Dest)
		}
	}
	// A reserved name does not stop this check, so that one run reports
	// both mistakes. Two spellings of one folder, such as /var/run and /run, would let
	// two secrets switch the same ..data link.
	folder := realFolder(dir)
	if prev, found := r.linkedDirs[folder]; found {
		same := ""
		if prev.dir != dir {
			same = fmt.Sprintf(" (written there as %s, the same folder through a symbolic link)", prev.dir)
		}
		r.errorAt(rs.layout.at, p, "folder %s already holds the linked files of %s%s, and each folder has room for one linked secret; give this secret its own folder",
			dir, prev.path, same)
		return
	}
	r.linkedDirs[folder] = linkedDir{path: rs.path, dir: dir}
}

// linkedDir is the secret of layout linked in a folder: its path, such as
// secrets[2], and the folder as its files name it.
type linkedDir struct {
	path, dir string
}

// realFolder returns dir with the symbolic links of its existing part
// resolved, so two spellings of one folder give the same path. The part
// that does not exist yet is kept as written.
func realFolder(dir string) string {
	missing := ""
	for current := dir; ; current = filepath.Dir(current) {
		if resolved, err := filepath.EvalSymlinks(current); err == nil {
			return filepath.Join(resolved, missing)
		}
		parent := filepath.Dir(current)
		if parent == current {
			return dir
		}
		missing = filepath.Join(filepath.Base(current), missing)
	}
}
