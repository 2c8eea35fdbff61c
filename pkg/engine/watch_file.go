package engine

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/charmbracelet/log"
	"github.com/fsnotify/fsnotify"
)

// DefaultFileDebounce is how long a FileWatcher waits after the last event
// before it reads the file, so that an editor's or a ConfigMap update's
// several steps count as one change.
const DefaultFileDebounce = 200 * time.Millisecond

// FileWatcher reports changes of one file's content. It watches the
// file's folder, and the folder of the file a symbolic link resolves to,
// rather than the file itself. So it notices a file written in place, one
// replaced by a rename, and a Kubernetes ConfigMap update, which swaps the
// folder's ..data link. After each burst of events it reads the file,
// following links, and reports a change only when the content differs
// from the last content it saw.
type FileWatcher struct {
	path     string
	debounce time.Duration
	logger   *log.Logger
	fs       *fsnotify.Watcher
	changes  chan struct{}
	done     chan struct{}
	closed   sync.Once

	digest  [sha256.Size]byte
	watched map[string]bool // folders added to fs
}

// WatchFile starts watching path. Receive from Changes for each change.
func WatchFile(path string, debounce time.Duration, logger *log.Logger) (*FileWatcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch config file %s: %w", path, err)
	}
	if debounce <= 0 {
		debounce = DefaultFileDebounce
	}
	if logger == nil {
		logger = log.New(io.Discard)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch config file %s: %w", path, err)
	}
	f := &FileWatcher{
		path:     abs,
		debounce: debounce,
		logger:   logger,
		fs:       fsw,
		changes:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		watched:  map[string]bool{},
	}
	if err := f.watchFolders(); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch config file %s: %w", path, err)
	}
	f.digest, _ = f.read()
	go f.loop()
	return f, nil
}

// Changes returns the channel that receives a value after each change. A
// change that arrives while an earlier one is not yet received merges
// with it.
func (f *FileWatcher) Changes() <-chan struct{} { return f.changes }

// Close stops watching.
func (f *FileWatcher) Close() error {
	var err error
	f.closed.Do(func() {
		close(f.done)
		err = f.fs.Close()
	})
	return err
}

// watchFolders adds the file's folder and, when the file is a link, the
// folder of its target. A target folder that appears later, as after a
// ConfigMap update, is added after the next event.
func (f *FileWatcher) watchFolders() error {
	folders := []string{filepath.Dir(f.path)}
	if target, err := filepath.EvalSymlinks(f.path); err == nil && filepath.Dir(target) != folders[0] {
		folders = append(folders, filepath.Dir(target))
	}
	for i, folder := range folders {
		if f.watched[folder] {
			continue
		}
		if err := f.fs.Add(folder); err != nil {
			if i == 0 {
				return err
			}
			f.logger.Debug("folder of the config file's link target not watched", "folder", folder, "err", err)
			continue
		}
		f.watched[folder] = true
	}
	return nil
}

// read returns the digest of the file's content.
func (f *FileWatcher) read() ([sha256.Size]byte, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}

func (f *FileWatcher) loop() {
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-f.done:
			if timer != nil {
				timer.Stop()
			}
			return
		case _, ok := <-f.fs.Events:
			if !ok {
				return
			}
			if timer == nil {
				timer = time.NewTimer(f.debounce)
			} else {
				timer.Reset(f.debounce)
			}
			fire = timer.C
		case err, ok := <-f.fs.Errors:
			if !ok {
				return
			}
			f.logger.Warn("config file watch error", "file", f.path, "err", err)
		case <-fire:
			fire = nil
			f.check()
		}
	}
}

// check reads the file after a burst of events and reports a change.
func (f *FileWatcher) check() {
	if err := f.watchFolders(); err != nil {
		f.logger.Warn("config file folder not watched", "file", f.path, "err", err)
	}
	digest, err := f.read()
	if err != nil {
		// A rename in progress or a file removed for now: a later
		// event brings it back.
		f.logger.Debug("config file not read after a change", "file", f.path, "err", err)
		return
	}
	if digest == f.digest {
		return
	}
	f.digest = digest
	select {
	case f.changes <- struct{}{}:
	default:
	}
}
