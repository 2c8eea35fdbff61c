package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where and with what the benchmark ran.
type machine struct {
	Date           string
	CPUs           int // as nproc counts them: the CPUs this process may run on
	CPUModel       string
	Memory         string
	Kernel         string
	GoVersion      string
	Vault          string
	ConsulTemplate string
	SecretsSync    string
	// LoadStart and LoadEnd are the 1, 5 and 15 minute load averages from
	// /proc/loadavg when the benchmark started and when it finished. Other
	// processes on the machine slow every tool, the floor included.
	LoadStart, LoadEnd string
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

func describeMachine(opts options) machine {
	m := machine{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		CPUs:      runtime.NumCPU(),
		CPUModel:  cpuinfoField("model name"),
		Memory:    memTotal(),
		GoVersion: runtime.Version(),
		LoadStart: loadAverage(),
		Vault:     firstLine(opts.vaultBin, "version"),
		SecretsSync: strings.Join(strings.Fields(
			firstLine(opts.syncBin, "version")), " "),
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(data))
	}
	if opts.consulTemplateBin != "" {
		m.ConsulTemplate = firstLine(opts.consulTemplateBin, "-version")
	}
	return m
}

// cpuinfoField returns the first value of field in /proc/cpuinfo.
func cpuinfoField(field string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(name) == field {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// memTotal returns MemTotal from /proc/meminfo in GiB.
func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				break
			}
			return strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
		}
	}
	return "unknown"
}

// firstLine runs a binary's version command and returns the first line of
// its output.
func firstLine(binary string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + os.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
