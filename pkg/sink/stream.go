package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
)

// Stream is the sink that writes file contents to an io.Writer, for example
// standard output.
//
// Without headers it writes the bytes of each file alone, which suits
// `render > .env` with a single file. With headers each file starts with the
// line "==> DEST <==", then its content, and a newline follows the content
// only if it does not already end with one, so the next header starts a
// line.
//
// Stream is safe for concurrent Write calls. Each call's output reaches the
// writer in a single Write, so the files of one secret stay contiguous.
type Stream struct {
	mu      sync.Mutex
	w       io.Writer
	headers bool
	buf     bytes.Buffer // output of the current call, guarded by mu
}

// NewStream returns a sink that writes to w, with a header line before each
// file when headers is true.
func NewStream(w io.Writer, headers bool) *Stream {
	return &Stream{w: w, headers: headers}
}

// Write writes files to the stream. Each Result has the file's Dest as Path,
// or its Path when Dest is empty, and Changed true.
func (s *Stream) Write(ctx context.Context, secret string, files []File) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	s.buf.Reset()
	results := make([]Result, len(files))
	for i := range files {
		file := &files[i]
		name := file.Dest
		if name == "" {
			name = file.Path
		}
		results[i] = Result{Path: name, Changed: true}

		if s.headers {
			s.buf.WriteString("==> ")
			s.buf.WriteString(name)
			s.buf.WriteString(" <==\n")
		}
		s.buf.Write(file.Content)
		if s.headers && len(file.Content) > 0 && file.Content[len(file.Content)-1] != '\n' {
			s.buf.WriteByte('\n')
		}
	}

	_, err := s.w.Write(s.buf.Bytes())
	// Clearing the buffer keeps rendered secrets out of it between calls.
	clear(s.buf.Bytes())
	s.buf.Reset()
	if err != nil {
		return nil, fmt.Errorf("write files of secret %s to the output stream: %w", secret, err)
	}
	return results, nil
}
