package config

import (
	"io/fs"
	"path/filepath"
)

// setFolderModes gives every file the modes of the folders that a write
// may create for it. A folder gets 0700, plus read and search (r-x) for
// the group or for others when a file at or below it grants that class any
// access, so an app that may read a file can also reach it. The modes
// depend on the whole config, not on which file happens to be written
// first, and one map serves every file.
func setFolderModes(secrets []Secret) {
	modes := map[string]fs.FileMode{}
	for _, s := range secrets {
		for _, f := range s.Files {
			mode := 0o700 | folderAccess(f.Mode)
			for dir := filepath.Dir(f.Path); ; dir = filepath.Dir(dir) {
				if modes[dir]&mode == mode {
					// Each earlier file gave dir's parents at least as much.
					break
				}
				modes[dir] |= mode
				if filepath.Dir(dir) == dir {
					break
				}
			}
		}
	}
	for i := range secrets {
		for j := range secrets[i].Files {
			secrets[i].Files[j].FolderModes = modes
		}
	}
}

// folderAccess returns r-x for the group and for others when mode grants
// the class any permission.
func folderAccess(mode fs.FileMode) fs.FileMode {
	var access fs.FileMode
	if mode&0o070 != 0 {
		access |= 0o050
	}
	if mode&0o007 != 0 {
		access |= 0o005
	}
	return access
}
