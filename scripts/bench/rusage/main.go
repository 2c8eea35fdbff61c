// Command rusage runs a command and writes its wall time and resource usage
// to a file, as one line of space-separated integers:
//
//	wall_ns user_ns system_ns maxrss_kb launcher_hwm_kb
//
// The benchmark starts every measured tool through it, because ru_maxrss
// of a child counts the memory of the process that started it: Go's os/exec
// starts a child with clone(CLONE_VM|CLONE_VFORK), so the child shares the
// parent's memory until exec, and at exec Linux keeps the larger of the old
// and the new peak in the child's maxrss. Started from the benchmark, which
// is much larger, every tool would report the benchmark's peak. This
// launcher stays small, and it reports its own peak (launcher_hwm_kb) so
// the benchmark can tell when a figure is no more than that floor.
//
// Usage: rusage OUTPUT_FILE COMMAND [ARG...]. The exit status is the
// command's, or 127 when it cannot start.
package main

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		os.Stderr.WriteString("usage: rusage OUTPUT_FILE COMMAND [ARG...]\n")
		os.Exit(2)
	}
	output := os.Args[1]
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command dies with the launcher, and a TERM or INT sent to the
	// launcher is passed on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		os.Stderr.WriteString("rusage: " + err.Error() + "\n")
		os.Exit(127)
	}
	go func() {
		for s := range signals {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)

	status := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		status = exitErr.ExitCode()
		if status < 0 {
			status = 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal())
		}
	} else if err != nil {
		os.Stderr.WriteString("rusage: " + err.Error() + "\n")
		os.Exit(127)
	}
	usage := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fields := []int64{
		wall.Nanoseconds(),
		usage.Utime.Nano(),
		usage.Stime.Nano(),
		usage.Maxrss,
		ownPeakKB(),
	}
	parts := make([]string, len(fields))
	for i, v := range fields {
		parts[i] = strconv.FormatInt(v, 10)
	}
	if err := os.WriteFile(output, []byte(strings.Join(parts, " ")+"\n"), 0o600); err != nil {
		os.Stderr.WriteString("rusage: " + err.Error() + "\n")
		os.Exit(127)
	}
	os.Exit(status)
}

// ownPeakKB returns VmHWM of this process in kilobytes, or -1.
func ownPeakKB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}
