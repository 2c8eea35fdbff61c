package status

import (
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
)

// Tracker is the live status of a process. It implements engine.Observer,
// and all its methods are safe for concurrent use.
type Tracker struct {
	mu          sync.Mutex
	now         func() time.Time // the clock; tests replace it
	pid         int
	command     string
	startedAt   time.Time
	updatedAt   time.Time
	finished    bool
	tokenErrors []string
	secrets     []SecretStatus // in config order
	index       map[string]int // secret name to its place in secrets
}

var _ engine.Observer = (*Tracker)(nil)

// NewTracker starts the status of this process, running command
// (CommandWatch or CommandSyncOnce), with no secrets yet.
func NewTracker(command string) *Tracker {
	return newTrackerWithClock(command, time.Now)
}

func newTrackerWithClock(command string, now func() time.Time) *Tracker {
	started := now()
	return &Tracker{
		now:       now,
		pid:       os.Getpid(),
		command:   command,
		startedAt: started,
		updatedAt: started,
		index:     map[string]int{},
	}
}

// SetSecrets sets the secrets to track, in config order, at start and after
// each reload. A secret that stays keeps its state, with its maxStale and
// file count updated. A new secret starts as pending, and a secret that is
// no longer in the list is dropped.
func (t *Tracker) SetSecrets(secrets []config.Secret) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make([]SecretStatus, 0, len(secrets))
	index := make(map[string]int, len(secrets))
	for _, s := range secrets {
		if _, duplicate := index[s.Name]; duplicate {
			continue
		}
		entry := SecretStatus{Name: s.Name, State: StatePending}
		if i, ok := t.index[s.Name]; ok {
			entry = t.secrets[i]
		}
		entry.Files = len(s.Files)
		entry.MaxStaleSeconds = s.MaxStale.Seconds()
		index[s.Name] = len(next)
		next = append(next, entry)
	}
	t.secrets = next
	t.index = index
	t.updatedAt = t.now()
}

// ReadDone does nothing: a read's outcome reaches the tracker through
// SecretDone, which also covers rendering and writing.
func (t *Tracker) ReadDone([]string, time.Duration, error) {}

// SecretDone records the end of one secret in a pass. A success sets the
// secret synced and clears its error. A failure sets it failed and keeps
// its last success time. A secret that SetSecrets no longer lists, as when
// a reload removed it during a pass, is ignored.
func (t *Tracker) SecretDone(secret string, files []sink.Result, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[secret]
	if !ok {
		return
	}
	now := t.now()
	entry := &t.secrets[i]
	entry.LastAttempt = now
	entry.ChangedFiles = 0
	for _, f := range files {
		if f.Changed && !f.Removed {
			entry.ChangedFiles++
		}
	}
	if err != nil {
		entry.State = StateFailed
		entry.LastError = err.Error()
	} else {
		entry.State = StateSynced
		entry.LastSuccess = now
		entry.LastError = ""
	}
	t.updatedAt = now
}

// SetTokenErrors records the token failures that keep the process from
// being ready, such as a static token that expired or a login that is
// denied, one error per credential set in the order given. An empty errs
// clears them.
func (t *Tracker) SetTokenErrors(errs []error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokenErrors = nil
	for _, err := range errs {
		t.tokenErrors = append(t.tokenErrors, err.Error())
	}
	t.updatedAt = t.now()
}

// MarkFinished records that the pass of a sync --once run is over.
func (t *Tracker) MarkFinished() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finished = true
	t.updatedAt = t.now()
}

// Snapshot returns a copy of the current status, with each secret's Stale
// judged at the time of the call.
func (t *Tracker) Snapshot() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	secrets := slices.Clone(t.secrets)
	if secrets == nil {
		secrets = []SecretStatus{}
	}
	for i := range secrets {
		secrets[i].Stale = secrets[i].staleAt(now)
	}
	return Status{
		PID:         t.pid,
		StartedAt:   t.startedAt,
		Command:     t.command,
		UpdatedAt:   t.updatedAt,
		Finished:    t.finished,
		TokenError:  strings.Join(t.tokenErrors, "; "),
		TokenErrors: slices.Clone(t.tokenErrors),
		Secrets:     secrets,
	}
}

// Ready reports whether the current status is ready, as Status.Ready does.
func (t *Tracker) Ready() (bool, []string) {
	status := t.Snapshot()
	return status.Ready(t.now())
}
