package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileName is the base name of the default status file.
const fileName = "secrets-sync.status.json"

// fileMode lets a healthcheck that runs as another user read the file. The
// file contains no secret value and no token, only names, states, times
// and error messages, so it need not be private.
const fileMode fs.FileMode = 0o644

// DefaultPath returns the status file's path when none is given:
// secrets-sync.status.json in os.TempDir(), which is $TMPDIR or /tmp.
func DefaultPath() string {
	return filepath.Join(os.TempDir(), fileName)
}

// WriteFile writes s to path atomically: to a temporary file in the same
// folder, given mode 0644, then renamed over path. A reader sees the old
// file or the new one, never a part. Neither the file nor its folder is
// flushed to disk, because the file describes the running process only.
// Readers see the renamed file at once, and after a crash of the machine
// the next start writes it again before its first pass.
func WriteFile(path string, s Status) error {
	data, err := encode(s)
	if err != nil {
		return fmt.Errorf("write status file %s: encode: %w", path, err)
	}

	dir := filepath.Dir(path)
	temp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write status file %s: %w", path, err)
	}
	tempPath := temp.Name()
	renamed := false
	defer func() {
		if !renamed {
			temp.Close()
			os.Remove(tempPath)
		}
	}()

	// CreateTemp makes the file 0600, so Chmod sets the mode whatever the
	// umask is.
	if err := temp.Chmod(fileMode); err != nil {
		return fmt.Errorf("write status file %s: %w", path, err)
	}
	if _, err := temp.Write(data); err != nil {
		return fmt.Errorf("write status file %s: %w", path, err)
	}
	if err := temp.Close(); err != nil {
		return fmt.Errorf("write status file %s: %w", path, err)
	}
	if err := os.Rename(tempPath, path); err != nil {
		return fmt.Errorf("write status file %s: %w", path, err)
	}
	renamed = true
	return nil
}

// encode returns s as indented JSON with each secret on a line of its own,
// which a reader can still scan and grep. For 1,000 secrets it took about
// half the time of indenting every field. Secrets is the last field, so
// its value replaces the null at the end of the rest.
func encode(s Status) ([]byte, error) {
	secrets := s.Secrets
	s.Secrets = nil
	head, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	rest, ok := bytes.CutSuffix(head, []byte("null\n}"))
	if !ok {
		return nil, fmt.Errorf("unexpected end of the encoded status: %q", head[max(0, len(head)-20):])
	}

	out := bytes.NewBuffer(make([]byte, 0, len(rest)+len(secrets)*200))
	out.Write(rest)
	if len(secrets) == 0 {
		out.WriteString("[]\n}\n")
		return out.Bytes(), nil
	}

	out.WriteString("[")
	for i := range secrets {
		line, err := json.Marshal(&secrets[i])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString(",")
		}
		out.WriteString("\n    ")
		out.Write(line)
	}
	out.WriteString("\n  ]\n}\n")
	return out.Bytes(), nil
}

// ReadFile reads the status file at path. A missing file is an error that
// wraps fs.ErrNotExist.
func ReadFile(path string) (Status, error) {
	var s Status
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read status file: %w", err)
	}
	if len(data) == 0 {
		return s, fmt.Errorf("read status file %s: the file is empty", path)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("read status file %s: invalid JSON: %w", path, err)
	}
	if s.Command == "" {
		return s, fmt.Errorf("read status file %s: no command field, so it was not written by secrets-sync", path)
	}
	return s, nil
}
