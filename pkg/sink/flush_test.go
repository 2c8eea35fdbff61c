package sink

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingSync is a folder fsync for tests that counts its calls and,
// while blocked, waits until release is closed.
type blockingSync struct {
	calls   atomic.Int32
	started chan struct{} // receives one value at the start of each call
	release chan struct{}
	err     error
}

func newBlockingSync() *blockingSync {
	return &blockingSync{started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blockingSync) sync(string) error {
	b.calls.Add(1)
	b.started <- struct{}{}
	<-b.release
	return b.err
}

// waitForTickets waits until n tickets were taken for dir.
func waitForTickets(t *testing.T, f *folderFlusher, dir string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		var requested uint64
		if state := f.folders[dir]; state != nil {
			requested = state.requested
		}
		f.mu.Unlock()
		if requested == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d calls did not reach the flusher within 5s", n)
}

func TestFolderFlusherSharesFsync(t *testing.T) {
	var f folderFlusher
	b := newBlockingSync()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- f.flush("/d", b.sync)
	}()
	<-b.started
	// These five arrive while the first fsync runs, which started before
	// their renames, so they need one more, which they share.
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.flush("/d", b.sync)
		}()
	}
	waitForTickets(t, &f, "/d", 6)
	close(b.release)
	wg.Wait()
	close(errs)

	for err := range errs {
		if err != nil {
			t.Errorf("flush: %v", err)
		}
	}
	if n := b.calls.Load(); n != 2 {
		t.Errorf("fsync calls = %d, expected 2 for 6 calls that overlap", n)
	}
}

func TestFolderFlusherWaitsForLaterFsync(t *testing.T) {
	var f folderFlusher
	b := newBlockingSync()
	first := make(chan error, 1)
	go func() { first <- f.flush("/d", b.sync) }()
	<-b.started

	second := make(chan error, 1)
	go func() { second <- f.flush("/d", b.sync) }()
	waitForTickets(t, &f, "/d", 2)
	b.release <- struct{}{} // ends the first fsync only
	if err := <-first; err != nil {
		t.Fatalf("first flush: %v", err)
	}

	select {
	case err := <-second:
		t.Fatalf("second flush returned (%v) before an fsync that started after it", err)
	case <-b.started:
	}
	close(b.release)
	if err := <-second; err != nil {
		t.Errorf("second flush: %v", err)
	}
}

func TestFolderFlusherReportsError(t *testing.T) {
	var f folderFlusher
	failure := errors.New("input/output error")
	err := f.flush("/d", func(string) error { return failure })
	if !errors.Is(err, failure) {
		t.Errorf("err = %v, expected the fsync error", err)
	}
	if err := f.flush("/d", func(string) error { return nil }); err != nil {
		t.Errorf("err = %v after a later fsync succeeded, expected nil", err)
	}
}

func TestFolderFlusherSeparatesFolders(t *testing.T) {
	var f folderFlusher
	var flushed []string
	syncDir := func(dir string) error {
		flushed = append(flushed, dir)
		return nil
	}
	for _, dir := range []string{"/a", "/b", "/a"} {
		if err := f.flush(dir, syncDir); err != nil {
			t.Fatal(err)
		}
	}
	if len(flushed) != 3 || flushed[0] != "/a" || flushed[1] != "/b" || flushed[2] != "/a" {
		t.Errorf("fsyncs = %v, expected [/a /b /a]: one per call when calls do not overlap", flushed)
	}
}
