package sink

import (
	"os"
	"strings"
	"testing"
)

// secretContent is file content that failure tests use, so that they can
// check that no error message contains it.
const secretContent = "s3cr3t-value-must-not-leak"

func assertNoContent(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secretContent) {
		t.Errorf("error message contains the file content: %v", err)
	}
}

// onDisk makes d treat every file as one on a file system that needs
// fsync, for tests that watch the flushes whatever file system holds
// their temporary folder.
func onDisk(d *Disk) *Disk {
	d.ops.inMemory = func(*os.File) bool { return false }
	return d
}
