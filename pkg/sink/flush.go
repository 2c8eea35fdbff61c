package sink

import "sync"

// folderFlusher merges the folder fsyncs of concurrent Write calls. A call
// that renamed files into a folder needs an fsync of that folder that
// starts after its renames. One fsync serves every call that is waiting
// when it starts, so parallel writes into one folder share fsyncs instead
// of each opening and flushing the folder.
//
// It keeps one entry for each folder it has flushed, which the config's
// destinations bound.
type folderFlusher struct {
	mu      sync.Mutex
	folders map[string]*folderFlush
}

// folderFlush is the fsync state of one folder. Each call takes a ticket
// after its renames. An fsync that starts when requested is N covers
// tickets 1 to N.
type folderFlush struct {
	requested uint64 // the last ticket taken
	covered   uint64 // the highest ticket that a finished fsync covers
	running   bool
	ended     *sync.Cond // broadcast when an fsync ends, with folderFlusher.mu as its lock
	err       error      // the result of the last finished fsync
}

// flush returns once an fsync of dir that started after the call has
// ended, and returns that fsync's error. It runs syncDir itself unless
// another call's fsync is running, in which case it waits for that one and
// then for the next if the first started too early.
//
// A failed fsync followed by one that succeeds before a waiting call wakes
// up reports success to that call, which is correct because the later
// fsync also started after its renames.
func (f *folderFlusher) flush(dir string, syncDir func(string) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.folders == nil {
		f.folders = map[string]*folderFlush{}
	}
	state := f.folders[dir]
	if state == nil {
		state = &folderFlush{ended: sync.NewCond(&f.mu)}
		f.folders[dir] = state
	}
	state.requested++
	ticket := state.requested

	for state.covered < ticket {
		if state.running {
			state.ended.Wait()
			continue
		}
		covers := state.requested
		state.running = true
		f.mu.Unlock()
		err := syncDir(dir)
		f.mu.Lock()
		state.running = false
		state.covered = covers
		state.err = err
		state.ended.Broadcast()
	}
	return state.err
}
