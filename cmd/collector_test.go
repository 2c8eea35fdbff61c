package cmd

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// gcPercent returns the collector's current GOGC value.
func gcPercent() int {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return percent
}

// writeConfigOfSize writes a file of size bytes and returns its path.
func writeConfigOfSize(t *testing.T, size int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// unsetEnv removes name from the environment for the rest of the test.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the variable after the test
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestPauseCollectorRestoresSettings(t *testing.T) {
	unsetEnv(t, "GOGC")
	unsetEnv(t, "GOMEMLIMIT")
	percent, limit := gcPercent(), debug.SetMemoryLimit(-1)

	path := writeConfigOfSize(t, 4096)
	before := memoryInUse()
	restore := pauseCollector(path)
	if got := gcPercent(); got != -1 {
		t.Errorf("GOGC while paused = %d, want -1 (off)", got)
	}
	// The limit is the memory in use when the pause began plus the headroom.
	if got, low, high := debug.SetMemoryLimit(-1), before+pauseHeadroom, memoryInUse()+pauseHeadroom; got < low || got > high {
		t.Errorf("memory limit while paused = %d, want between %d and %d", got, low, high)
	}
	restore()
	if got := gcPercent(); got != percent {
		t.Errorf("GOGC after restore = %d, want %d", got, percent)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit after restore = %d, want %d", got, limit)
	}
}

func TestPauseCollectorLeavesSettings(t *testing.T) {
	small := writeConfigOfSize(t, 4096)
	tests := []struct {
		name string
		path string
		env  map[string]string
	}{
		{name: "large config", path: writeConfigOfSize(t, pauseMaxConfigSize+1)},
		{name: "missing config", path: filepath.Join(t.TempDir(), "missing.yaml")},
		{name: "GOGC set", path: small, env: map[string]string{"GOGC": "100"}},
		{name: "GOMEMLIMIT set", path: small, env: map[string]string{"GOMEMLIMIT": "1GiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unsetEnv(t, "GOGC")
			unsetEnv(t, "GOMEMLIMIT")
			for name, value := range tt.env {
				t.Setenv(name, value)
			}
			percent, limit := gcPercent(), debug.SetMemoryLimit(-1)
			restore := pauseCollector(tt.path)
			defer restore()
			if got := gcPercent(); got != percent {
				t.Errorf("GOGC = %d, want it left at %d", got, percent)
			}
			if got := debug.SetMemoryLimit(-1); got != limit {
				t.Errorf("memory limit = %d, want it left at %d", got, limit)
			}
		})
	}
}
