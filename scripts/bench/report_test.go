package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// samplesOf returns one sample per wall time, in seconds, each with a
// peak RSS of rssMB.
func samplesOf(rssMB float64, walls ...float64) []sample {
	out := make([]sample, len(walls))
	for i, w := range walls {
		out[i] = sample{Wall: time.Duration(w * float64(time.Second)), MaxRSS: int64(rssMB * 1e6)}
	}
	return out
}

func TestSummarizeMedian(t *testing.T) {
	odd := summarize(samplesOf(10, 0.3, 0.1, 0.2))
	if odd.Wall != 200*time.Millisecond {
		t.Errorf("median of 3 = %v, want 200ms", odd.Wall)
	}
	if odd.WallMin != 100*time.Millisecond || odd.WallMax != 300*time.Millisecond {
		t.Errorf("range = %v-%v, want 100ms-300ms", odd.WallMin, odd.WallMax)
	}
	even := summarize(samplesOf(10, 0.4, 0.1, 0.2, 0.3))
	if even.Wall != 250*time.Millisecond {
		t.Errorf("median of 4 = %v, want 250ms", even.Wall)
	}
	withServer := summarize([]sample{{ServerCPU: 600 * time.Millisecond}, {ServerCPU: 500 * time.Millisecond}, {ServerCPU: 700 * time.Millisecond}})
	if withServer.ServerCPU != 600*time.Millisecond {
		t.Errorf("median server CPU = %v, want 600ms", withServer.ServerCPU)
	}
	if empty := summarize(nil); empty.Runs != 0 {
		t.Errorf("summary of no samples has %d runs, want 0", empty.Runs)
	}
}

// targetReport is a report of one policy-token run at 1,000 and 10,000
// secrets with the given median wall times.
func targetReport(floor1k, sync1k, agent1k, consul1k, floor10k, sync10k float64) *report {
	return &report{sizes: []*sizeResult{
		{N: 1000, Samples: map[string][]sample{
			keyFloor:          samplesOf(11, floor1k),
			keySync:           samplesOf(24, sync1k),
			keyAgent:          samplesOf(200, agent1k),
			keyConsulTemplate: samplesOf(90, consul1k),
		}},
		{N: 10000, Samples: map[string][]sample{
			keyFloor: samplesOf(12, floor10k),
			keySync:  samplesOf(48, sync10k),
		}},
	}}
}

// targetLine returns the line of lines that starts with prefix.
func targetLine(t *testing.T, lines []string, prefix string) string {
	t.Helper()
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("no target line starts with %q in:\n%s", prefix, strings.Join(lines, "\n"))
	return ""
}

func TestTargetsVerdicts(t *testing.T) {
	tests := []struct {
		name  string
		walls [6]float64 // floor, secrets-sync, Vault Agent, consul-template at 1,000; floor, secrets-sync at 10,000
		want  map[string]string
	}{
		{
			name:  "speed missed",
			walls: [6]float64{0.40, 0.44, 1.80, 1.60, 4.00, 4.60},
			want: map[string]string{
				"N=1000, secrets-sync within 1.5x the floor":      ": 1.10x, met",
				"N=1000, at least 5x faster than Vault Agent":     ": 4.09x (the floor: 4.50x), NOT MET",
				"N=1000, at least 4x faster than consul-template": ": 3.64x (the floor: 4.00x), NOT MET",
				"N=1000, peak RSS at most 30 MB":                  ": 24.0 MB, met",
				"N=10000, time at most linear from N=1000 (10x)":  ": 10.45x (the floor: 10.00x), NOT MET",
				"N=10000, peak RSS under 60 MB":                   ": 48.0 MB, met",
			},
		},
		{
			name:  "speed met",
			walls: [6]float64{0.10, 0.12, 0.90, 0.60, 1.00, 1.10},
			want: map[string]string{
				"N=1000, secrets-sync within 1.5x the floor":      ": 1.20x, met",
				"N=1000, at least 5x faster than Vault Agent":     ": 7.50x (the floor: 9.00x), met",
				"N=1000, at least 4x faster than consul-template": ": 5.00x (the floor: 6.00x), met",
				"N=10000, time at most linear from N=1000 (10x)":  ": 9.17x (the floor: 10.00x), met",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.walls
			lines := targetReport(w[0], w[1], w[2], w[3], w[4], w[5]).targets()
			for prefix, suffix := range tt.want {
				line := targetLine(t, lines, prefix)
				if !strings.HasSuffix(line, suffix) {
					t.Errorf("target line = %q, want it to end with %q", line, suffix)
				}
			}
		})
	}
}

func TestTargetsWithoutFloor(t *testing.T) {
	r := targetReport(0.40, 0.44, 1.80, 1.60, 4.00, 4.60)
	delete(r.sizes[0].Samples, keyFloor)
	lines := r.targets()

	for _, line := range lines {
		if strings.Contains(line, "within 1.5x the floor") {
			t.Errorf("floor target reported without a floor run: %q", line)
		}
	}
	agent := targetLine(t, lines, "N=1000, at least 5x faster than Vault Agent")
	if strings.Contains(agent, "the floor") {
		t.Errorf("Vault Agent target names the floor without a floor run: %q", agent)
	}
}

func TestWriteMarkdownKeepsHandWrittenText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	page := "# Title\n\nwritten by hand\n\n" + markdownBegin + "\nold results\n" + markdownEnd + "\n\nafter the results\n"
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}

	r := targetReport(0.40, 0.44, 1.80, 1.60, 4.00, 4.60)
	r.opts.runs = 1
	if err := r.writeMarkdown(path); err != nil {
		t.Fatalf("writeMarkdown: %v", err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)

	if !strings.HasPrefix(got, "# Title\n\nwritten by hand\n\n"+markdownBegin) {
		t.Errorf("text before the generated section changed:\n%s", got)
	}
	if !strings.HasSuffix(got, markdownEnd+"\n\nafter the results\n") {
		t.Errorf("text after the generated section changed:\n%s", got)
	}
	if strings.Contains(got, "old results") {
		t.Error("the old generated section is still in the page")
	}
	if strings.Count(got, markdownBegin) != 1 {
		t.Errorf("the page has %d generated sections, want 1", strings.Count(got, markdownBegin))
	}
	if !strings.Contains(got, "at least 5x faster than Vault Agent: 4.09x (the floor: 4.50x), NOT MET") {
		t.Errorf("the new section lacks the Vault Agent target:\n%s", got)
	}
}
