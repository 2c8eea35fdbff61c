package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// benchConfig returns a config of n secrets in the shape that
// scripts/bench writes: one KV v2 secret per entry and one file per secret,
// each entry a flow mapping on one line.
func benchConfig(n int, outDir string) []byte {
	var b strings.Builder
	b.WriteString("secretStore:\n  address: \"${VAULT_ADDR}\"\nsecrets:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: s%d, key: bench/s%d, files: [{path: %q, template: \"{{ .password }}\"}]}\n",
			i, i, filepath.Join(outDir, fmt.Sprintf("s%d", i)))
	}
	return []byte(b.String())
}

// BenchmarkParse10000 loads a config of 10,000 secrets and reports the
// allocations of one load.
func BenchmarkParse10000(b *testing.B) {
	benchmarkParse(b, 10000)
}

// BenchmarkParse1000 loads a config of 1,000 secrets, the size of the
// benchmark's main comparison.
func BenchmarkParse1000(b *testing.B) {
	benchmarkParse(b, 1000)
}

func benchmarkParse(b *testing.B, n int) {
	work := b.TempDir()
	data := benchConfig(n, filepath.Join(work, "out"))
	opts := Options{
		Lookup:  envOf("VAULT_ADDR", "http://127.0.0.1:8200", "VAULT_TOKEN", "root"),
		WorkDir: work,
		HomeDir: work,
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg, problems := Parse("bench.yaml", data, opts)
		if errs := problems.Errors(); len(errs) > 0 {
			b.Fatalf("unexpected problems:\n%s", errs.Error())
		}
		if len(cfg.Secrets) != n {
			b.Fatalf("loaded %d secrets, want %d", len(cfg.Secrets), n)
		}
	}
}
