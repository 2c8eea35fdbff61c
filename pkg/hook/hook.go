package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/charmbracelet/log"

	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// Names of the variables that a command gets.
const (
	// EnvChangedFiles lists the changed paths, removed ones included, one
	// per line rather than colon-separated, because a path may contain a
	// colon. A path that contains a newline would read as two.
	EnvChangedFiles = "SECRETS_SYNC_CHANGED_FILES"
	// EnvSecret is the name of the secret whose files changed.
	EnvSecret = "SECRETS_SYNC_SECRET"
)

const (
	// maxOutput is how much of a command's standard output and of its
	// standard error is kept for the log, each.
	maxOutput = 4 << 10
	// waitDelay is how long a command that timed out, or the processes
	// that inherited its output, may take to close it after the kill.
	waitDelay = 2 * time.Second
)

// Runner runs onChange hooks. The runs of one secret never overlap: a
// change that arrives while its hook runs is queued, and changes queued
// together run the hook once with all their paths. It is safe for
// concurrent use.
type Runner struct {
	logger *log.Logger

	mu     sync.Mutex
	queues map[string]*queue
	wg     sync.WaitGroup
}

// queue is the pending run of one secret's hook.
type queue struct {
	onChange *config.OnChange
	changed  []string
}

// NewRunner returns a runner that logs each run to logger.
func NewRunner(logger *log.Logger) *Runner {
	if logger == nil {
		logger = log.New(io.Discard)
	}
	return &Runner{logger: logger, queues: map[string]*queue{}}
}

// Notify queues a run of onChange for the changed paths of secret and
// returns at once. Wait waits for the queued runs.
func (r *Runner) Notify(secret string, onChange *config.OnChange, changed []string) {
	if onChange == nil || len(changed) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q, running := r.queues[secret]; running {
		if q == nil {
			q = &queue{}
			r.queues[secret] = q
		}
		q.onChange = onChange
		for _, path := range changed {
			if !slices.Contains(q.changed, path) {
				q.changed = append(q.changed, path)
			}
		}
		return
	}
	r.queues[secret] = nil
	r.wg.Add(1)
	go r.drain(secret, &queue{onChange: onChange, changed: slices.Clone(changed)})
}

// drain runs the hook of secret until no change is queued for it.
func (r *Runner) drain(secret string, next *queue) {
	defer r.wg.Done()
	for next != nil {
		r.Run(context.Background(), secret, next.onChange, next.changed)
		r.mu.Lock()
		next = r.queues[secret]
		if next == nil {
			delete(r.queues, secret)
		} else {
			r.queues[secret] = nil
		}
		r.mu.Unlock()
	}
}

// Wait waits until every queued and running hook has finished. Each is
// bounded by its timeout.
func (r *Runner) Wait() {
	r.wg.Wait()
}

// Run runs onChange for the changed paths of secret and returns when it is
// done: first the command, then the signal. Failures are logged, with the
// command, its exit status and its output, and not returned, because a
// failed hook stops nothing.
func (r *Runner) Run(ctx context.Context, secret string, onChange *config.OnChange, changed []string) {
	if onChange == nil {
		return
	}
	if len(onChange.Command) > 0 {
		r.runCommand(ctx, secret, onChange, changed)
	}
	if onChange.Signal != 0 {
		r.sendSignal(secret, onChange)
	}
}

func (r *Runner) runCommand(ctx context.Context, secret string, onChange *config.OnChange, changed []string) {
	timeout := onChange.Timeout
	if timeout <= 0 {
		timeout = config.DefaultHookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	argv := onChange.Command
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv(os.Environ(), secret, changed)
	stdout := &limitedBuffer{limit: maxOutput}
	stderr := &limitedBuffer{limit: maxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)

	start := time.Now()
	err := cmd.Run()
	fields := []any{
		"secret", secret, "command", argv, "files", len(changed),
		"duration", time.Since(start).Round(time.Millisecond),
	}
	if out := stdout.String(); out != "" {
		fields = append(fields, "stdout", out)
	}
	if out := stderr.String(); out != "" {
		fields = append(fields, "stderr", out)
	}
	if err == nil {
		level := log.InfoLevel
		if stderr.Len() > 0 {
			level = log.WarnLevel
		}
		r.logger.Log(level, "onChange command finished", append(fields, "exit_status", 0)...)
		return
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		fields = append(fields, "err", fmt.Sprintf("timed out after %s and was killed; raise onChange.timeout if it needs longer", timeout))
	case errors.As(err, &exitErr):
		fields = append(fields, "exit_status", exitErr.ExitCode(), "err", err)
	default:
		fields = append(fields, "err", fmt.Errorf("start %s: %w", argv[0], err))
	}
	r.logger.Error("onChange command failed", fields...)
}

// connectionSettings are the VAULT_ and BAO_ variables, by their part after
// the prefix, that set the server's address and namespace and how its TLS
// certificate is checked. A command keeps them, so that a secrets-sync
// render it runs reaches the server as the running process does.
var connectionSettings = map[string]bool{
	"ADDR": true, "NAMESPACE": true, "CACERT": true, "CAPATH": true,
	"CLIENT_CERT": true, "CLIENT_KEY": true, "TLS_SERVER_NAME": true, "SKIP_VERIFY": true,
}

// commandEnv returns env with the secret's name and changed paths added,
// and without the VAULT_ and BAO_ variables other than connectionSettings,
// because those others may hold a token or another credential.
func commandEnv(env []string, secret string, changed []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, entry := range env {
		name, _, _ := strings.Cut(entry, "=")
		if name == EnvChangedFiles || name == EnvSecret || isCredentialVariable(name) {
			continue
		}
		out = append(out, entry)
	}
	return append(out, EnvSecret+"="+secret, EnvChangedFiles+"="+strings.Join(changed, "\n"))
}

// isCredentialVariable reports whether name is a VAULT_ or BAO_ variable
// that is not one of connectionSettings.
func isCredentialVariable(name string) bool {
	for _, prefix := range []string{"VAULT_", "BAO_"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			return !connectionSettings[rest]
		}
	}
	return false
}

func (r *Runner) sendSignal(secret string, onChange *config.OnChange) {
	pid, err := readPID(onChange.PIDFile)
	if err == nil {
		err = signalProcess(pid, onChange.Signal)
		if err != nil {
			err = fmt.Errorf("send %s to pid %d from %s: %w", signalName(onChange.Signal), pid, onChange.PIDFile, err)
		}
	}
	if err != nil {
		r.logger.Error("onChange signal failed", "secret", secret, "signal", signalName(onChange.Signal), "pid_file", onChange.PIDFile, "err", err)
		return
	}
	r.logger.Info("onChange signal sent", "secret", secret, "signal", signalName(onChange.Signal), "pid", pid, "pid_file", onChange.PIDFile)
}

// readPID reads a process id from path, which is read again at each change
// because the process may have restarted.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pidFile %s: %w", path, err)
	}
	text := strings.TrimSpace(string(data))
	pid, err := strconv.Atoi(text)
	if err != nil || pid < 1 {
		return 0, fmt.Errorf("pidFile %s contains %q, not a process id; it must contain one positive number", path, truncate(text, 40))
	}
	return pid, nil
}

// signalName returns the name that onChange.signal uses for sig.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGQUIT:
		return "QUIT"
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGUSR1:
		return "USR1"
	case syscall.SIGUSR2:
		return "USR2"
	}
	return sig.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// limitedBuffer keeps the first limit bytes written to it and counts the
// rest.
type limitedBuffer struct {
	limit   int
	data    []byte
	dropped int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.limit - len(b.data)
	if room > 0 {
		n := min(room, len(p))
		b.data = append(b.data, p[:n]...)
		b.dropped += len(p) - n
	} else {
		b.dropped += len(p)
	}
	return len(p), nil
}

// Len returns the number of bytes written, kept or not.
func (b *limitedBuffer) Len() int { return len(b.data) + b.dropped }

// String returns the kept output without trailing white space, with a note
// of how much was left out.
func (b *limitedBuffer) String() string {
	s := strings.TrimRight(string(b.data), " \t\r\n")
	if b.dropped > 0 {
		s += fmt.Sprintf(" ... (%d more bytes left out)", b.dropped)
	}
	return s
}
