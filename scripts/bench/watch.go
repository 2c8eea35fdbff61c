package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. Linux fixes it
// at 100 for user space on every architecture, whatever the kernel's HZ.
const userHZ = 100

// watchRun is the measurement of one `secrets-sync watch` process over a
// window that starts once its first pass has written every file.
type watchRun struct {
	Secrets  int
	Interval time.Duration // refreshInterval of every secret
	// StatusFile is true when the process wrote its status file (on the
	// repository's disk), false for --status-file "".
	StatusFile bool
	Window     time.Duration
	FirstPass  time.Duration // from start until every file had its content and the first pass was reported
	CPU        time.Duration // user + system time spent during the window
	PeakRSS    int64         // VmHWM at the end of the window, in bytes
	// WriteBytes is the growth of write_bytes in /proc/PID/io during the
	// window: bytes the process caused to be sent to the block layer.
	WriteBytes int64
	Rewritten  int           // files whose modification time changed during the window
	Requests   requestCounts // seen by the proxy during the window
	ExitErr    string        // the failure of the exit after SIGTERM; empty for exit status 0
}

// CPUShare is the CPU time over the window as a fraction of one core.
func (w watchRun) CPUShare() float64 {
	return w.CPU.Seconds() / w.Window.Seconds()
}

func (w watchRun) RequestsPerSecond() float64 {
	return float64(w.Requests.Total) / w.Window.Seconds()
}

// ExpectedPerSecond is the read rate that refreshing every secret once per
// interval needs on average.
func (w watchRun) ExpectedPerSecond() float64 {
	return float64(w.Secrets) / w.Interval.Seconds()
}

type watchReport struct {
	Available bool
	Reason    string // the reason the benchmark did not run, when not Available
	Runs      []watchRun
}

// watchAvailable reports whether `secrets-sync watch --help` succeeds.
func (b *benchmark) watchAvailable(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.opts.syncBin, "watch", "--help")
	cmd.Env = b.childEnv()
	return cmd.Run() == nil
}

// runWatch measures watch processes over a window in which nothing changes
// on the server. The busy one has an interval short enough to refresh every
// secret several times in the window, and runs once with its status file
// and once without. The idle one has an interval longer than the window.
func (b *benchmark) runWatch(ctx context.Context) (*watchReport, error) {
	if !b.watchAvailable(ctx) {
		logf("watch not available in this build")
		return &watchReport{Reason: "watch not available in this build"}, nil
	}
	report := &watchReport{Available: true}
	settings := []struct {
		interval   time.Duration
		statusFile bool
	}{
		{b.opts.watchInterval, true},
		{b.opts.watchInterval, false},
		{b.opts.watchIdleInterval, true},
	}
	for i, setting := range settings {
		logf("watch: %d secrets, refreshInterval %s, status file %t, window %s",
			b.opts.watchSecrets, setting.interval, setting.statusFile, b.opts.watchWindow)
		run, err := b.measureWatch(ctx, setting.interval, setting.statusFile, filepath.Join(b.workDir, "out-watch-"+strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		logf("  first pass %s, cpu %s (%.2f%% of a core), peak RSS %s, write_bytes %d, files rewritten %d, %.1f requests/s (expected %.1f)",
			formatSeconds(run.FirstPass), formatSeconds(run.CPU), 100*run.CPUShare(), formatMB(run.PeakRSS),
			run.WriteBytes, run.Rewritten, run.RequestsPerSecond(), run.ExpectedPerSecond())
		report.Runs = append(report.Runs, run)
	}
	return report, nil
}

// measureWatch starts `secrets-sync watch` for the watch secrets with
// refreshInterval interval, writing into outDir, and measures it over the
// window that starts when every file has its content.
func (b *benchmark) measureWatch(ctx context.Context, interval time.Duration, statusFile bool, outDir string) (watchRun, error) {
	n := b.opts.watchSecrets
	run := watchRun{Secrets: n, Interval: interval, Window: b.opts.watchWindow, StatusFile: statusFile}
	if err := clearFolder(outDir); err != nil {
		return run, err
	}
	config := outDir + ".yaml"
	if err := writeSyncConfig(config, outDir, n, interval.String()); err != nil {
		return run, err
	}
	logPath := filepath.Join(b.workDir, "logs", "watch-"+filepath.Base(outDir)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return run, err
	}
	defer logFile.Close()

	status := ""
	if statusFile {
		status = outDir + ".status.json"
	}
	cmd := exec.Command(b.opts.syncBin, "watch", "-c", config, "--listen", "", "--status-file", status)
	cmd.Env = b.childEnv("VAULT_ADDR="+b.proxy.addr, "VAULT_TOKEN="+b.token)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	// The window starts when every file has its content and the process
	// has finished its first pass: logged it and, with a status file,
	// written every secret as synced, which it does right after the files.
	for {
		if b.verifyFiles(outDir, n) == nil && firstPassDone(logPath, status, n) {
			break
		}
		select {
		case err := <-exited:
			stopped = true
			return run, fmt.Errorf("secrets-sync watch exited before its first pass finished (%v); the end of %s:\n%s", err, logPath, tailOf(logPath, 15))
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 2*time.Minute {
			return run, fmt.Errorf("secrets-sync watch did not write all %d files within 2 minutes; see %s", n, logPath)
		}
	}
	run.FirstPass = time.Since(start)

	pid := cmd.Process.Pid
	timesBefore, err := modTimes(outDir, n)
	if err != nil {
		return run, err
	}
	cpuBefore, err := processCPU(pid)
	if err != nil {
		return run, err
	}
	writesBefore, err := processWriteBytes(pid)
	if err != nil {
		return run, err
	}
	requestsBefore := b.proxy.snapshot()

	select {
	case err := <-exited:
		stopped = true
		return run, fmt.Errorf("secrets-sync watch exited during the window (%v); see %s", err, logPath)
	case <-ctx.Done():
		return run, ctx.Err()
	case <-time.After(run.Window):
	}

	run.Requests = b.proxy.snapshot().sub(requestsBefore)
	cpuAfter, err := processCPU(pid)
	if err != nil {
		return run, err
	}
	writesAfter, err := processWriteBytes(pid)
	if err != nil {
		return run, err
	}
	run.CPU = cpuAfter - cpuBefore
	run.WriteBytes = writesAfter - writesBefore
	if run.PeakRSS, err = processPeakRSS(pid); err != nil {
		return run, err
	}
	timesAfter, err := modTimes(outDir, n)
	if err != nil {
		return run, err
	}
	for i := range timesBefore {
		if !timesAfter[i].Equal(timesBefore[i]) {
			run.Rewritten++
		}
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			run.ExitErr = err.Error()
		}
	case <-time.After(15 * time.Second):
		run.ExitErr = "still running 15s after SIGTERM, killed"
	}
	return run, nil
}

// processCPU returns utime + stime of a running process.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name in brackets may contain spaces, so the fields are
	// counted from the last ')'. Field 3 (state) is then fields[0], and
	// utime and stime, fields 14 and 15, are fields[11] and fields[12].
	end := strings.LastIndexByte(string(data), ')')
	if end < 0 {
		return 0, errors.New("unexpected format of /proc/PID/stat")
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, errors.New("unexpected format of /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// processWriteBytes returns write_bytes from /proc/PID/io.
func processWriteBytes(pid int) (int64, error) {
	return procField("/proc/"+strconv.Itoa(pid)+"/io", "write_bytes:", 1)
}

// processPeakRSS returns VmHWM from /proc/PID/status in bytes.
func processPeakRSS(pid int) (int64, error) {
	return procField("/proc/"+strconv.Itoa(pid)+"/status", "VmHWM:", 1024)
}

// procField returns the number after name in a "name: value" file, times
// unit.
func procField(path, name string, unit int64) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == name {
			v, err := strconv.ParseInt(fields[1], 10, 64)
			return v * unit, err
		}
	}
	return 0, fmt.Errorf("no %s in %s", name, path)
}

// firstPassDone reports whether the watch process logged the end of its
// first pass to logPath and, when status is not "", wrote a status file
// there that shows n secrets, all synced.
func firstPassDone(logPath, status string, n int) bool {
	logText, err := os.ReadFile(logPath)
	if err != nil || !bytes.Contains(logText, []byte("first pass finished")) {
		return false
	}
	if status == "" {
		return true
	}
	data, err := os.ReadFile(status)
	if err != nil {
		return false
	}
	var parsed struct {
		Secrets []struct {
			State string `json:"state"`
		} `json:"secrets"`
	}
	if json.Unmarshal(data, &parsed) != nil || len(parsed.Secrets) != n {
		return false
	}
	for _, s := range parsed.Secrets {
		if s.State != "synced" {
			return false
		}
	}
	return true
}
