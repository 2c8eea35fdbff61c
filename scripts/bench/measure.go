package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is one measured run of a child process.
type sample struct {
	Wall   time.Duration // from just before fork to the return of wait4, taken by the launcher
	CPU    time.Duration // user + system time of the child (rusage)
	MaxRSS int64         // peak resident set size in bytes (rusage ru_maxrss)
	// LauncherRSS is the launcher's own peak RSS in bytes. MaxRSS is never
	// below it, so a MaxRSS this close to it is an upper bound only.
	LauncherRSS int64
	// ServerCPU is the CPU time the Vault dev server used during the run,
	// read from /proc in steps of 10 ms.
	ServerCPU time.Duration
}

// runMeasured runs cmd to completion through the rusage launcher and
// returns its wall time, CPU time and peak RSS. Its standard output and
// error go to logPath, and a failure quotes the end of that file.
func runMeasured(ctx context.Context, launcher string, cmd *exec.Cmd, logPath string, timeout time.Duration) (sample, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return sample{}, err
	}
	defer logFile.Close()
	usagePath := logPath + ".rusage"
	_ = os.Remove(usagePath)

	wrapped := exec.Command(launcher, append([]string{usagePath, cmd.Path}, cmd.Args[1:]...)...)
	wrapped.Env = cmd.Env
	wrapped.Dir = cmd.Dir
	wrapped.Stdout = logFile
	wrapped.Stderr = logFile
	wrapped.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	if err := wrapped.Start(); err != nil {
		return sample{}, fmt.Errorf("start %s: %w", launcher, err)
	}
	done := make(chan error, 1)
	go func() { done <- wrapped.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = wrapped.Process.Kill()
		<-done
		return sample{}, ctx.Err()
	case <-time.After(timeout):
		_ = wrapped.Process.Kill()
		<-done
		return sample{}, fmt.Errorf("%s timed out after %s; see %s", cmd.Path, timeout, logPath)
	}
	if err != nil {
		return sample{}, fmt.Errorf("%s failed: %w; the end of %s:\n%s", cmd.Path, err, logPath, tailOf(logPath, 15))
	}
	return readUsage(usagePath)
}

// readUsage parses the line that the rusage launcher writes.
func readUsage(path string) (sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return sample{}, fmt.Errorf("read the launcher's measurement: %w", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) != 5 {
		return sample{}, fmt.Errorf("unexpected measurement %q in %s", data, path)
	}
	values := make([]int64, len(fields))
	for i, field := range fields {
		if values[i], err = strconv.ParseInt(field, 10, 64); err != nil {
			return sample{}, fmt.Errorf("unexpected measurement %q in %s", data, path)
		}
	}
	return sample{
		Wall:        time.Duration(values[0]),
		CPU:         time.Duration(values[1] + values[2]),
		MaxRSS:      values[3] * 1024, // Linux reports kilobytes
		LauncherRSS: values[4] * 1024,
	}, nil
}

// tailOf returns the last lines of the file at path.
func tailOf(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	data = bytes.TrimRight(data, "\n")
	parts := bytes.Split(data, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte("\n")))
}

// summary is the median and range of a set of samples, each measure taken
// on its own.
type summary struct {
	Runs               int
	Wall, WallMin      time.Duration
	WallMax            time.Duration
	CPU                time.Duration
	ServerCPU          time.Duration
	MaxRSS, MaxRSSHigh int64
}

func summarize(samples []sample) summary {
	if len(samples) == 0 {
		return summary{}
	}
	walls := make([]time.Duration, len(samples))
	cpus := make([]time.Duration, len(samples))
	serverCPUs := make([]time.Duration, len(samples))
	rss := make([]int64, len(samples))
	for i, s := range samples {
		walls[i], cpus[i], serverCPUs[i], rss[i] = s.Wall, s.CPU, s.ServerCPU, s.MaxRSS
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	slices.Sort(serverCPUs)
	slices.Sort(rss)
	return summary{
		Runs:       len(samples),
		Wall:       median(walls),
		WallMin:    walls[0],
		WallMax:    walls[len(walls)-1],
		CPU:        median(cpus),
		ServerCPU:  median(serverCPUs),
		MaxRSS:     median(rss),
		MaxRSSHigh: rss[len(rss)-1],
	}
}

// median returns the middle of sorted values, or the mean of the two
// middle ones for an even count.
func median[T ~int64](sorted []T) T {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
