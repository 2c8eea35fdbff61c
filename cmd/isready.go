package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// readyURLTimeout bounds the whole request of isready --url.
const readyURLTimeout = 5 * time.Second

// maxReadyBody caps how much of a /readyz response isready reads.
const maxReadyBody = 64 << 10

func newIsReadyCommand(root *rootOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "isready",
		Short: "Exit 0 when every secret is synced, for container healthchecks",
		Long: `Check whether secrets-sync is ready, for a Docker, Compose or Kubernetes
healthcheck that has no shell or curl.

By default isready reads the status file (--status-file). For a watch
process, it is ready when every secret has synced at least once, none has
failed for longer than its maxStale, the token is fine, and the process
that wrote the file is still running (the check must run in the same
container). For sync --once, it is ready when the pass has finished and left
every secret synced; that process need not be running.

With --url, it asks a running watch's health server instead: a URL with no
path gets /readyz, and a 200 response means ready. Only http:// URLs are
accepted, and the request times out after 5s.

Reasons for not being ready go to stderr on one line; "ready" and a count
go to stdout.

Exit codes:
  0  ready
  1  not ready: the file is missing or unreadable, a secret is not synced or
     is stale, the token failed, the watch process is gone, or the URL did
     not return 200
  2  usage error`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if raw := root.viper.GetString("url"); raw != "" {
				return checkReadyURL(c.Context(), root, raw)
			}
			return checkStatusFile(root, root.statusFile())
		},
	}
	c.Flags().String("status-file", status.DefaultPath(),
		"status file written by watch or sync --once (also SECRETS_SYNC_STATUS_FILE or STATUS_FILE)")
	c.Flags().String("url", "", "http:// URL of a watch health server to ask instead of the status file, such as http://127.0.0.1:9180")
	return c
}

// checkStatusFile judges the status file at path.
func checkStatusFile(root *rootOptions, path string) error {
	if path == "" {
		return &usageError{errors.New("isready needs a status file: give --status-file PATH, or --url")}
	}
	s, err := status.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("not ready: status file %s does not exist; watch and sync --once write it when they start, so check that they use the same --status-file or STATUS_FILE", path)
	}
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	if err := checkStatusProcess(s, path); err != nil {
		return err
	}
	ready, reasons := s.Ready(time.Now())
	if !ready {
		return fmt.Errorf("not ready: %s", strings.Join(reasons, "; "))
	}
	_, err = fmt.Fprintf(root.streams.Out, "ready: %d secrets synced (%s, pid %d)\n", len(s.Secrets), s.Command, s.PID)
	return err
}

// checkStatusProcess checks the process side of a status: a watch must
// still run, and a sync --once must have finished its pass.
func checkStatusProcess(s status.Status, path string) error {
	switch s.Command {
	case status.CommandWatch:
		if !status.ProcessAlive(s.PID) {
			return fmt.Errorf("not ready: the watch process %d that wrote %s is not running", s.PID, path)
		}
	case status.CommandSyncOnce:
		if s.Finished {
			return nil
		}
		if status.ProcessAlive(s.PID) {
			return fmt.Errorf("not ready: sync --once (pid %d) has not finished its pass yet", s.PID)
		}
		return fmt.Errorf("not ready: sync --once (pid %d) stopped before its pass finished; see its log for the reason", s.PID)
	default:
		return fmt.Errorf("not ready: status file %s names the command %q, want %q or %q", path, s.Command, status.CommandWatch, status.CommandSyncOnce)
	}
	return nil
}

// checkReadyURL requests the readiness endpoint at raw and judges the
// response.
func checkReadyURL(ctx context.Context, root *rootOptions, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return &usageError{fmt.Errorf("invalid --url %q; give an http:// URL such as http://127.0.0.1:9180", config.RedactAddress(raw))}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/readyz"
	}
	shown := u.Redacted()

	client := &http.Client{
		Timeout: readyURLTimeout,
		// A proxy from the environment must not stand between the check
		// and the server, and a redirect is not a 200.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &usageError{fmt.Errorf("invalid --url %q: %w", shown, unwrapURLError(err))}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: GET %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxReadyBody))
	if resp.StatusCode != http.StatusOK {
		message := fmt.Sprintf("not ready: GET %s returned %s", shown, resp.Status)
		if reasons := readyReasons(body); reasons != "" {
			message += ": " + reasons
		}
		return errors.New(message)
	}
	_, err = fmt.Fprintf(root.streams.Out, "ready: GET %s returned %s\n", shown, resp.Status)
	return err
}

// readyReasons returns the reasons of a secrets-sync /readyz body on one
// line, or "" for any other body, which is not shown because its content
// is unknown.
func readyReasons(body []byte) string {
	var r struct {
		Reasons []string `json:"reasons"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	return strings.Join(strings.Fields(strings.Join(r.Reasons, "; ")), " ")
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// method and URL, and names a timeout plainly.
func unwrapURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if urlErr.Timeout() {
			return fmt.Errorf("timed out after %s", readyURLTimeout)
		}
		return urlErr.Err
	}
	return err
}
