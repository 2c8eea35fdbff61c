package cmd

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
)

// Loading a config allocates about 50 bytes for each byte of the file,
// nearly all of it garbage by the end. The process has almost no heap yet,
// so Go's minimum heap goal of 4 MB makes the collector run every few
// milliseconds of loading. For 1,000 secrets that made loading about 4 ms
// slower. Nothing else runs while the config loads, so a small config is
// loaded with the collector paused.
const (
	// pauseMaxConfigSize is the largest config file loaded with the
	// collector paused: by the estimate above, about 2,500 one-line
	// secrets, which allocate about 12 MB.
	pauseMaxConfigSize = 256 << 10
	// pauseHeadroom is how far the memory in use may grow during a paused
	// load before a collection starts anyway.
	pauseHeadroom = 32 << 20
)

// pauseCollector pauses the garbage collector for loading the config file
// at path, if it is small, and returns the function that restores the
// collector's settings. A GOGC or GOMEMLIMIT variable leaves the settings
// to the user.
func pauseCollector(path string) (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return func() {}
	}
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Size() > pauseMaxConfigSize {
		return func() {}
	}
	limit := debug.SetMemoryLimit(memoryInUse() + pauseHeadroom)
	percent := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

// memoryInUse returns the bytes that the Go runtime holds and counts
// against its memory limit.
func memoryInUse() int64 {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(samples)
	return int64(samples[0].Value.Uint64() - samples[1].Value.Uint64())
}
