//go:build unix

package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
)

const benchmarkFiles = 1000

func benchmarkInput(dir string) []File {
	files := make([]File, benchmarkFiles)
	for i := range files {
		files[i] = newFile(filepath.Join(dir, "f"+strconv.Itoa(i)), fmt.Sprintf("KEY_%d=value-%d\n", i, i))
	}
	return files
}

// BenchmarkDiskWrite1000Files writes 1,000 small files that all changed, in
// one Write call, so every file is staged, flushed and renamed.
func BenchmarkDiskWrite1000Files(b *testing.B) {
	files := benchmarkInput(b.TempDir())
	d := NewDisk()
	round := 0
	b.ReportAllocs()
	for b.Loop() {
		round++
		// The round number makes every file differ from the previous round.
		for i := range files {
			files[i].Content = fmt.Appendf(files[i].Content[:0], "KEY_%d=value-%d-%d\n", i, i, round)
		}
		if _, err := d.Write(context.Background(), "kv/bench", files); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiskWrite1000FilesUnchanged writes 1,000 small files that are
// already on disk, so each is only compared.
func BenchmarkDiskWrite1000FilesUnchanged(b *testing.B) {
	files := benchmarkInput(b.TempDir())
	d := NewDisk()
	if _, err := d.Write(context.Background(), "kv/bench", files); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		results, err := d.Write(context.Background(), "kv/bench", files)
		if err != nil {
			b.Fatal(err)
		}
		if results[0].Changed {
			b.Fatal("unchanged file reported as changed")
		}
	}
}
