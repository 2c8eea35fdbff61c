package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// existingFolder is the state of a destination folder or one of its
// parents, zero when it is not a folder or cannot be examined.
type existingFolder struct {
	exists bool
	// ownerOnly is true when the folder grants search permission to
	// neither its group nor others, so no one but its owner (and root)
	// may pass through it.
	ownerOnly bool
	uid       uint32
	mode      fs.FileMode
}

// checkReach warns when an existing folder above a file lets no one but
// its owner in, while the file is meant for another user: it names another
// owner, or its mode lets group or others read it. The file is then
// written, but its reader cannot open it. Folders that do not exist yet
// are made so that the reader can reach the file. A folder that cannot be
// examined is skipped, so that the check raises no false alarm.
func (r *resolver) checkReach(f File, rf rawFile) {
	forOwner := f.UID > 0
	forOthers := f.Mode&0o044 != 0
	if !forOwner && !forOthers {
		return
	}
	for dir := filepath.Dir(f.Path); ; dir = filepath.Dir(dir) {
		access := r.examineFolder(dir)
		if access.ownerOnly {
			switch {
			case forOwner && uint32(f.UID) != access.uid:
				r.warnAt(rf.owner.at, joinPath(rf.path, "owner"),
					"owner %d cannot reach %s: folder %s (owner %d, mode %04o) lets no one else in; run chmod go+x %s, or write the file elsewhere",
					f.UID, f.Dest, dir, access.uid, access.mode.Perm(), dir)
				return
			case !forOwner:
				at, p := r.modeSetting(rf)
				r.warnAt(at, p,
					"mode %s lets others read %s, but folder %s (owner %d, mode %04o) lets no one but its owner in; run chmod go+x %s, or write the file elsewhere",
					formatMode(f.Mode), f.Dest, dir, access.uid, access.mode.Perm(), dir)
				return
			}
		}
		if filepath.Dir(dir) == dir {
			return
		}
	}
}

// examineFolder returns whether dir is a folder, and its owner and mode,
// reading them once per load.
func (r *resolver) examineFolder(dir string) existingFolder {
	if access, known := r.folders[dir]; known {
		return access
	}
	var access existingFolder
	info, err := os.Stat(dir)
	if err == nil && info.IsDir() {
		if stat, ok := info.Sys().(*syscall.Stat_t); ok {
			access = existingFolder{
				exists:    true,
				ownerOnly: info.Mode().Perm()&0o011 == 0,
				uid:       stat.Uid,
				mode:      info.Mode(),
			}
		}
	}
	if r.folders == nil {
		r.folders = map[string]existingFolder{}
	}
	r.folders[dir] = access
	return access
}
