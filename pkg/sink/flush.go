package sink

import "sync"

// folderFlusher merges the folder fsyncs of concurrent Write calls. A call
// that renamed files into a folder needs an fsync of that folder that
// starts after its renames. One fsync serves every call that is waiting
// when it starts, so parallel writes into one folder share fsyncs instead
// of each opening and flushing the folder.
type folderFlusher struct {
	mu      sync.Mutex
	folders map[string]*folderFlush
}

// folderFlush is the fsync state of one folder. Each call takes a ticket
// after its renames. An fsync that starts when requested is N covers
// tickets 1 to N.
type folderFlush struct {
	requested uint64        // the last ticket taken
	covered   uint64        // the highest ticket that a finished fsync covers
	running   chan struct{} // closed when the running fsync ends, or nil when none runs
	err       error         // the result of the last finished fsync
	callers   int           // calls that hold a ticket, so the entry can go when none does
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
		state = &folderFlush{}
		f.folders[dir] = state
	}
	state.requested++
	ticket := state.requested
	state.callers++
	defer func() {
		state.callers--
		if state.callers == 0 {
			delete(f.folders, dir)
		}
	}()

	for state.covered < ticket {
		if state.running != nil {
			running := state.running
			f.mu.Unlock()
			<-running
			f.mu.Lock()
			continue
		}
		covers := state.requested
		done := make(chan struct{})
		state.running = done
		f.mu.Unlock()
		err := syncDir(dir)
		f.mu.Lock()
		state.running = nil
		state.covered = covers
		state.err = err
		close(done)
	}
	return state.err
}
