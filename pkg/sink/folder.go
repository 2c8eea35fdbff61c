package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Folder is the sink for --output-dir. It writes each file under a root
// folder at its whole File.Dest path, with the same staging, renames, modes,
// owners and checks as [Disk]. A Dest of "/run/secrets/db" lands at
// ROOT/run/secrets/db and a relative Dest "a/b" at ROOT/a/b, so two files
// with the same base name never collide. File.Path is ignored.
type Folder struct {
	root string
	disk *Disk
}

// NewFolder returns a sink that writes under root. A relative root is
// resolved against the working folder at each Write, and a missing root is
// created with mode 0700.
func NewFolder(root string) *Folder {
	return &Folder{root: root, disk: NewDisk()}
}

// Write writes files under the root folder. It rejects, before writing
// anything, a Dest that contains a ".." element, that names the root
// itself, or whose existing parent folders under the root include a
// symbolic link. Results name the paths under the root.
func (s *Folder) Write(ctx context.Context, secret string, files []File) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	root, err := filepath.Abs(s.root)
	if err != nil {
		return nil, fmt.Errorf("resolve output folder %s: %w", s.root, err)
	}

	placed := make([]File, len(files))
	for i, file := range files {
		path, err := placeUnder(root, file.Dest)
		if err != nil {
			return nil, err
		}
		file.Path = path
		file.Linked = false // plain files are easier to inspect
		placed[i] = file
	}
	return s.disk.writeFiles(placed)
}

// placeUnder returns the path of dest under root.
func placeUnder(root, dest string) (string, error) {
	if dest == "" {
		return "", newWriteError("write", dest, errors.New("destination is empty"))
	}
	for _, element := range strings.Split(filepath.ToSlash(dest), "/") {
		if element == ".." {
			return "", newWriteError("write", dest,
				fmt.Errorf("destination contains \"..\", which could leave the output folder %s", root))
		}
	}

	path := filepath.Join(root, dest)
	if path == root {
		return "", newWriteError("write", dest, fmt.Errorf("destination names the output folder %s itself", root))
	}
	if err := checkNoSymlinks(root, filepath.Dir(path)); err != nil {
		return "", newWriteError("write", dest, err)
	}
	return path, nil
}

// checkNoSymlinks rejects a symbolic link among the existing folders from
// just below root down to dir, because it could lead outside root. The root
// itself may be a symbolic link.
//
// NOTE: the check runs before the write, so a link created in between is
// followed.
func checkNoSymlinks(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." {
		return err
	}
	current := root
	for _, element := range strings.Split(rel, string(filepath.Separator)) {
		current = filepath.Join(current, element)
		info, err := os.Lstat(current)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("check folder %s: %w", current, stripPath(err))
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link, which could lead outside the output folder %s", current, root)
		}
	}
	return nil
}
