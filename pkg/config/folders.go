package config

import (
	"io/fs"
	"path/filepath"

	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

// setNewFolders gives every file the mode, owner and group of each folder
// that a write may create for it. They are worked out from all files at or
// below the folder, so that an app that may read a file can also reach it.
//
//   - The mode is 0700, plus read and search (r-x) for the group or for
//     others when a file below grants that class any access.
//   - When every file below names one group, the folder gets that group.
//     Its members can at most read and search the folder, never change it.
//   - The folder that files are written into directly gets their owner,
//     when every file below names the same one and the files are not of
//     layout linked.
//   - Every other folder keeps the process's owner, because an owner could
//     replace a folder below it with a symbolic link and so redirect later
//     writes, such as those into the version folders of layout linked. When
//     a file below names an owner, the folder gets search permission (x,
//     not r) for the group and for others, so each owner can open its own
//     file by name without listing the folder. Both classes get it, because
//     a user in the folder's group is checked against the group bits alone.
//     Files that name different groups do the same when one of them may
//     read its file.
//
// The result does not depend on which file happens to be written first,
// and one map serves every file.
func setNewFolders(secrets []Secret) {
	uses := map[string]*folderUse{}
	for _, s := range secrets {
		linked := s.Layout == LayoutLinked
		for _, f := range s.Files {
			for dir := filepath.Dir(f.Path); ; dir = filepath.Dir(dir) {
				// A linked file is written into a version folder below dir.
				next := newFolderUse(f, linked || dir != filepath.Dir(f.Path))
				use := uses[dir]
				if use == nil {
					uses[dir] = &next
				} else if !use.add(next) {
					// The folders above dir contain every file below dir, so
					// f changes none of them either.
					break
				}
				if filepath.Dir(dir) == dir {
					break
				}
			}
		}
	}

	folders := make(map[string]sink.FolderAttrs, len(uses))
	for dir, use := range uses {
		folders[dir] = use.attrs()
	}
	for i := range secrets {
		for j := range secrets[i].Files {
			secrets[i].Files[j].NewFolders = folders
		}
	}
}

// mixedIDs marks a folder whose files name different owners or groups.
const mixedIDs = -2

// folderUse sums up the files at or below one folder.
type folderUse struct {
	access fs.FileMode // r-x for each of the group and others that some file lets in
	// uid and gid are the owner and group that every file names, -1 when
	// none names one, or mixedIDs.
	uid, gid int
	// groupReads is true when some file names a group and grants it access.
	groupReads bool
	// writesBelow is true when some file is written into a folder below
	// this one.
	writesBelow bool
}

// newFolderUse returns the summary of f alone, for a folder that f is
// written into directly unless writesBelow is true.
func newFolderUse(f File, writesBelow bool) folderUse {
	return folderUse{
		access:      folderAccess(f.Mode),
		uid:         f.UID,
		gid:         f.GID,
		groupReads:  f.GID >= 0 && f.Mode&0o070 != 0,
		writesBelow: writesBelow,
	}
}

// add merges other into the summary and reports whether the summary
// changed.
func (u *folderUse) add(other folderUse) bool {
	next := folderUse{
		access:      u.access | other.access,
		uid:         commonID(u.uid, other.uid),
		gid:         commonID(u.gid, other.gid),
		groupReads:  u.groupReads || other.groupReads,
		writesBelow: u.writesBelow || other.writesBelow,
	}
	if next == *u {
		return false
	}
	*u = next
	return true
}

// attrs returns the mode, owner and group that the folder gets.
func (u *folderUse) attrs() sink.FolderAttrs {
	attrs := sink.FolderAttrs{Mode: 0o700 | u.access, UID: -1, GID: -1}
	if u.uid >= 0 && !u.writesBelow {
		attrs.UID = u.uid
	}
	if u.gid >= 0 {
		attrs.GID = u.gid
	}
	ownerOutside := u.uid != -1 && attrs.UID == -1
	if ownerOutside || (u.gid == mixedIDs && u.groupReads) {
		attrs.Mode |= 0o011
	}
	return attrs
}

// commonID returns id when it equals common, and mixedIDs otherwise. An
// unset id (-1) differs from every set one, because such a file keeps the
// process's id.
func commonID(common, id int) int {
	if common == id {
		return id
	}
	return mixedIDs
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
