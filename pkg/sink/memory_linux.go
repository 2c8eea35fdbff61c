package sink

import (
	"os"
	"syscall"
)

// Magic numbers of the file systems that keep their files in memory only,
// from statfs(2).
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// inMemoryFS reports whether f is on tmpfs or ramfs, such as /dev/shm, a
// Kubernetes memory emptyDir or a Docker tmpfs mount. Those file systems
// have no storage to flush, so fsync does nothing on their files and
// folders. It returns false when fstatfs fails, so the caller flushes.
func inMemoryFS(f *os.File) bool {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return false
	}
	kind := uint32(st.Type)
	return kind == tmpfsMagic || kind == ramfsMagic
}
