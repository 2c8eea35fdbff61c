package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func streamFile(dest, content string) File {
	return File{Path: "/abs" + dest, Dest: dest, Content: []byte(content), Mode: 0o600, UID: -1, GID: -1}
}

func TestStreamWithoutHeaders(t *testing.T) {
	var out bytes.Buffer
	files := []File{streamFile("/a", "A=1"), streamFile("/b", "B=2\n")}

	results, err := NewStream(&out, false).Write(context.Background(), "kv/app", files)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}

	if got := out.String(); got != "A=1B=2\n" {
		t.Errorf("output = %q, expected %q", got, "A=1B=2\n")
	}
	for i, dest := range []string{"/a", "/b"} {
		if results[i] != (Result{Path: dest, Changed: true}) {
			t.Errorf("results[%d] = %+v, expected {Path:%s Changed:true}", i, results[i], dest)
		}
	}
}

func TestStreamWithHeaders(t *testing.T) {
	cases := []struct {
		name     string
		files    []File
		expected string
	}{
		{
			name:     "content ends with newline",
			files:    []File{streamFile("/a", "A\n"), streamFile("/b", "B\n")},
			expected: "==> /a <==\nA\n==> /b <==\nB\n",
		},
		{
			name:     "content lacks newline",
			files:    []File{streamFile("/a", "A"), streamFile("/b", "B")},
			expected: "==> /a <==\nA\n==> /b <==\nB\n",
		},
		{
			name:     "empty content",
			files:    []File{streamFile("/a", ""), streamFile("b", "B")},
			expected: "==> /a <==\n==> b <==\nB\n",
		},
		{
			name:     "blank line kept",
			files:    []File{streamFile("/a", "A\n\n")},
			expected: "==> /a <==\nA\n\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer

			if _, err := NewStream(&out, true).Write(context.Background(), "kv/app", tc.files); err != nil {
				t.Fatalf("Write: %v", err)
			}

			if got := out.String(); got != tc.expected {
				t.Errorf("output = %q, expected %q", got, tc.expected)
			}
		})
	}
}

func TestStreamHeaderFallsBackToPath(t *testing.T) {
	var out bytes.Buffer
	file := streamFile("", "x")

	results, err := NewStream(&out, true).Write(context.Background(), "kv/app", []File{file})
	if err != nil {
		t.Fatal(err)
	}

	if got := out.String(); got != "==> /abs <==\nx\n" {
		t.Errorf("output = %q, expected %q", got, "==> /abs <==\nx\n")
	}
	if results[0].Path != "/abs" {
		t.Errorf("Result.Path = %q, expected %q", results[0].Path, "/abs")
	}
}

func TestStreamConcurrentWritesStayContiguous(t *testing.T) {
	const secrets = 50
	const filesPerSecret = 4
	// bytes.Buffer is not safe for concurrent use, so the race detector
	// also reports a Stream that lets calls overlap.
	var out bytes.Buffer
	stream := NewStream(&out, true)

	var wg sync.WaitGroup
	for s := range secrets {
		wg.Go(func() {
			files := make([]File, filesPerSecret)
			for f := range files {
				files[f] = streamFile(fmt.Sprintf("/s%d/f%d", s, f), fmt.Sprintf("s%d-f%d", s, f))
			}
			if _, err := stream.Write(context.Background(), fmt.Sprintf("kv/s%d", s), files); err != nil {
				t.Errorf("Write: %v", err)
			}
		})
	}
	wg.Wait()

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != secrets*filesPerSecret*2 {
		t.Fatalf("%d output lines, expected %d", len(lines), secrets*filesPerSecret*2)
	}
	seen := make(map[string]bool)
	for start := 0; start < len(lines); start += filesPerSecret * 2 {
		var secret string
		if _, err := fmt.Sscanf(lines[start], "==> /%s", &secret); err != nil {
			t.Fatalf("line %d = %q, expected a header", start, lines[start])
		}
		secret, _, _ = strings.Cut(secret, "/")
		if seen[secret] {
			t.Errorf("files of %s are split across the output", secret)
		}
		seen[secret] = true
		for f := range filesPerSecret {
			header := fmt.Sprintf("==> /%s/f%d <==", secret, f)
			content := fmt.Sprintf("%s-f%d", secret, f)
			if got := lines[start+2*f]; got != header {
				t.Errorf("line %d = %q, expected %q", start+2*f, got, header)
			}
			if got := lines[start+2*f+1]; got != content {
				t.Errorf("line %d = %q, expected %q", start+2*f+1, got, content)
			}
		}
	}
	if len(seen) != secrets {
		t.Errorf("output has %d secrets, expected %d", len(seen), secrets)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestStreamWriteError(t *testing.T) {
	broken := errors.New("broken pipe")

	_, err := NewStream(failingWriter{err: broken}, true).Write(context.Background(), "kv/app", []File{streamFile("/a", secretContent)})

	if !errors.Is(err, broken) {
		t.Errorf("error = %v, expected it to wrap %v", err, broken)
	}
	if err != nil && !strings.Contains(err.Error(), "kv/app") {
		t.Errorf("error %q does not name the secret", err)
	}
	assertNoContent(t, err)
}

func TestStreamHonoursCancelledContext(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := NewStream(&out, true).Write(ctx, "kv/app", []File{streamFile("/a", "x")})

	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, expected context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Errorf("output = %q, expected nothing", out.String())
	}
}
