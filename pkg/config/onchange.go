package config

import (
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultHookTimeout bounds an onChange command that sets no timeout.
const DefaultHookTimeout = 30 * time.Second

// OnChange is the action taken when a secret's files change: a command, a signal
// to a process, or both. The changed paths reach a command in the
// SECRETS_SYNC_CHANGED_FILES variable, never the values.
type OnChange struct {
	Command []string // argv, run without a shell
	Timeout time.Duration
	Signal  syscall.Signal // 0 when none
	PIDFile string         // process to signal, read at each change
	Pos     Position
}

// signalNames are the signals onChange may send, by name without SIG.
var signalNames = map[string]syscall.Signal{
	"HUP":  syscall.SIGHUP,
	"INT":  syscall.SIGINT,
	"QUIT": syscall.SIGQUIT,
	"TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

var onChangeKeys = []string{"command", "timeout", "signal", "pidFile"}

type rawOnChange struct {
	at      Position
	path    string
	command opt[[]string]
	timeout opt[time.Duration]
	signal  opt[string]
	pidFile opt[string]
}

func (d *decoder) decodeOnChange(n *yaml.Node, path string) *rawOnChange {
	r := &rawOnChange{at: pos(n), path: path}
	d.fields(n, path, onChangeKeys, func(key string, k, v *yaml.Node) {
		p := joinPath(path, key)
		switch key {
		case "command":
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, p, "command must be a list of arguments, run without a shell, such as [\"nginx\", \"-s\", \"reload\"]")
				return
			}
			r.command, _ = d.strList(v, p)
		case "timeout":
			r.timeout, _ = d.duration(v, p)
		case "signal":
			r.signal, _ = d.str(v, p)
		case "pidFile":
			r.pidFile, _ = d.str(v, p)
		}
	})
	return r
}

func (r *resolver) resolveOnChange(raw *rawOnChange) *OnChange {
	if raw == nil {
		return nil
	}
	o := &OnChange{
		Command: raw.command.v,
		Timeout: raw.timeout.or(DefaultHookTimeout),
		PIDFile: r.absPath(raw.pidFile.v),
		Pos:     raw.at,
	}
	if raw.command.set && len(o.Command) == 0 {
		r.errorAt(raw.command.at, joinPath(raw.path, "command"), "empty command; give the program and its arguments as a list")
	}
	if raw.signal.set {
		name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(raw.signal.v)), "SIG")
		sig, ok := signalNames[name]
		if !ok {
			r.errorAt(raw.signal.at, joinPath(raw.path, "signal"), "unknown signal %q; use HUP, INT, QUIT, TERM, USR1 or USR2", raw.signal.v)
		}
		o.Signal = sig
		if o.PIDFile == "" {
			r.errorAt(raw.signal.at, joinPath(raw.path, "pidFile"), "signal needs pidFile, the file that contains the process id to signal")
		}
	} else if raw.pidFile.set {
		r.errorAt(raw.pidFile.at, joinPath(raw.path, "signal"), "pidFile is set but no signal; add signal, such as HUP")
	}
	if !raw.command.set && !raw.signal.set && !raw.pidFile.set {
		r.errorAt(raw.at, raw.path, "onChange needs a command, or a signal and a pidFile")
	}
	return o
}
