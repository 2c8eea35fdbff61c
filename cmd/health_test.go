package cmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/metrics"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/status"
)

// healthVariables are every variable that listenAddress reads.
var healthVariables = []string{"SECRETS_SYNC_LISTEN", "METRICS_ADDR", "METRICS_PORT", "ENABLE_METRICS"}

// listenFor returns listenAddress for a command line and environment,
// with every other health variable unset.
func listenFor(t *testing.T, args []string, env map[string]string) (string, error) {
	t.Helper()
	for _, name := range healthVariables {
		t.Setenv(name, "") // restores the variable after the test
		os.Unsetenv(name)
	}
	for name, value := range env {
		t.Setenv(name, value)
	}
	opts := &rootOptions{viper: viper.New()}
	bindHealthEnv(opts.viper)
	c := &cobra.Command{Use: "watch"}
	opts.addListenFlag(c)
	if err := c.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := opts.bindFlags(c); err != nil {
		t.Fatal(err)
	}
	return opts.listenAddress()
}

func TestListenAddress(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "127.0.0.1:9180"},
		{"flag", []string{"--listen", "127.0.0.1:9999"}, nil, "127.0.0.1:9999"},
		{"flag empty turns off", []string{"--listen", ""}, nil, ""},
		{"variable", nil, map[string]string{"SECRETS_SYNC_LISTEN": "127.0.0.1:9001"}, "127.0.0.1:9001"},
		{"variable empty turns off", nil, map[string]string{"SECRETS_SYNC_LISTEN": ""}, ""},
		{"flag over variable", []string{"--listen", "127.0.0.1:9002"}, map[string]string{"SECRETS_SYNC_LISTEN": "127.0.0.1:9001"}, "127.0.0.1:9002"},
		{"metrics addr", nil, map[string]string{"METRICS_ADDR": "127.0.0.1:9100"}, "127.0.0.1:9100"},
		{"metrics addr all interfaces", nil, map[string]string{"METRICS_ADDR": ":9100"}, ":9100"},
		{"metrics port on loopback", nil, map[string]string{"METRICS_PORT": "9200"}, "127.0.0.1:9200"},
		{"metrics addr over port", nil, map[string]string{"METRICS_ADDR": "127.0.0.1:9100", "METRICS_PORT": "9200"}, "127.0.0.1:9100"},
		{"enable metrics false", nil, map[string]string{"ENABLE_METRICS": "false", "METRICS_PORT": "9200"}, ""},
		{"enable metrics true", nil, map[string]string{"ENABLE_METRICS": "true", "METRICS_PORT": "9200"}, "127.0.0.1:9200"},
		{"flag over enable metrics", []string{"--listen", "127.0.0.1:9003"}, map[string]string{"ENABLE_METRICS": "false"}, "127.0.0.1:9003"},
		{"variable over metrics addr", nil, map[string]string{"SECRETS_SYNC_LISTEN": "127.0.0.1:9004", "METRICS_ADDR": "127.0.0.1:9100"}, "127.0.0.1:9004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := listenFor(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("listenAddress: %v", err)
			}
			if got != tt.want {
				t.Errorf("listenAddress() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListenAddressInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"no port", []string{"--listen", "127.0.0.1"}, nil, `invalid --listen or SECRETS_SYNC_LISTEN "127.0.0.1"`},
		{"port out of range", []string{"--listen", "127.0.0.1:70000"}, nil, "out of range"},
		{"named port", []string{"--listen", "127.0.0.1:http"}, nil, `"127.0.0.1:http"`},
		{"metrics addr", nil, map[string]string{"METRICS_ADDR": "9100"}, `invalid METRICS_ADDR "9100"`},
		{"metrics port", nil, map[string]string{"METRICS_PORT": "abc"}, `invalid METRICS_PORT "abc"`},
		{"metrics port zero", nil, map[string]string{"METRICS_PORT": "0"}, `invalid METRICS_PORT "0"`},
		{"enable metrics", nil, map[string]string{"ENABLE_METRICS": "maybe"}, `invalid ENABLE_METRICS "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := listenFor(t, tt.args, tt.env)
			if err == nil {
				t.Fatal("listenAddress succeeded")
			}
			var usage *usageError
			if !errors.As(err, &usage) {
				t.Errorf("error %v is not a usage error, so it would not exit 2", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestStartHealthOff(t *testing.T) {
	srv, err := startHealth(context.Background(), "", status.NewTracker(status.CommandWatch), nil, log.New(io.Discard))
	if err != nil || srv != nil {
		t.Errorf("startHealth(\"\") = %v, %v; want nil, nil", srv, err)
	}
}

func TestStartHealthTakenAddress(t *testing.T) {
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()

	_, err = startHealth(context.Background(), inUse.Addr().String(), status.NewTracker(status.CommandWatch), nil, log.New(io.Discard))
	var usage *usageError
	if !errors.As(err, &usage) {
		t.Fatalf("error %v is not a usage error", err)
	}
	if ExitCode(err) != ExitUsage {
		t.Errorf("exit code = %d, want %d", ExitCode(err), ExitUsage)
	}
	if !strings.Contains(err.Error(), inUse.Addr().String()) || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("error %q does not name the address and the flag", err)
	}
}

func TestStartHealthServes(t *testing.T) {
	tracker := status.NewTracker(status.CommandWatch)
	m := metrics.New("test", "none")
	setHealthSecrets(tracker, m, []config.Secret{{Name: "db"}})
	healthObserver(tracker, m).SecretDone("db", []sink.Result{{Path: "/out/db", Changed: true}}, nil)

	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := startHealth(ctx, "127.0.0.1:0", tracker, m, log.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), srv.Addr()) {
		t.Errorf("log does not say where the server listens:\n%s", logs.String())
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for path, want := range map[string]string{"/readyz": `"ready":true`, "/metrics": `secrets_sync_files_written_total{secret="db"} 1`} {
		resp, err := client.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, body lacks %q:\n%s", path, resp.StatusCode, want, body)
		}
	}
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10s of the context ending")
	}
}

func TestSetHealthSecretsForgetsRemoved(t *testing.T) {
	tracker := status.NewTracker(status.CommandWatch)
	m := metrics.New("test", "none")
	observer := healthObserver(tracker, m)
	setHealthSecrets(tracker, m, []config.Secret{{Name: "db"}, {Name: "old"}})
	observer.SecretDone("db", nil, nil)
	observer.SecretDone("old", nil, nil)

	setHealthSecrets(tracker, m, []config.Secret{{Name: "db"}})

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, label := range metric.GetLabel() {
				if label.GetName() == "secret" && label.GetValue() == "old" {
					t.Errorf("%s still has a series for the removed secret", f.GetName())
				}
			}
		}
	}
	if got := tracker.Snapshot().Secrets; len(got) != 1 || got[0].Name != "db" {
		t.Errorf("tracker secrets = %+v, want only db", got)
	}
}

func TestStatusWriterLogsFailureOnce(t *testing.T) {
	var logs bytes.Buffer
	logger := log.New(&logs)
	logger.SetLevel(log.InfoLevel)
	dir := t.TempDir()
	w := newStatusWriter(dir+"/missing/status.json", logger)
	tracker := status.NewTracker(status.CommandWatch)
	for range 3 {
		w.write(tracker.Snapshot())
	}
	if got := strings.Count(logs.String(), "status file not written"); got != 1 {
		t.Errorf("%d warnings for 3 failed writes, want 1:\n%s", got, logs.String())
	}

	if err := os.Mkdir(dir+"/missing", 0o700); err != nil {
		t.Fatal(err)
	}
	w.write(tracker.Snapshot())
	if !strings.Contains(logs.String(), "status file written again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	if _, err := status.ReadFile(dir + "/missing/status.json"); err != nil {
		t.Error(err)
	}
}

func TestStatusWriterOff(t *testing.T) {
	var logs bytes.Buffer
	newStatusWriter("", log.New(&logs)).write(status.NewTracker(status.CommandWatch).Snapshot())
	if logs.Len() != 0 {
		t.Errorf("a writer with no path logged:\n%s", logs.String())
	}
}

func TestStatusWriterSkipsRoundsWithoutChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	w := newStatusWriter(path, log.New(io.Discard))
	first := status.Status{PID: 1, Command: status.CommandWatch, Secrets: []status.SecretStatus{{Name: "db", State: status.StateSynced, Files: 1, LastSuccess: time.Unix(100, 0)}}}
	w.writeRound(first)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("first round not written: %v", err)
	}

	// Only the times moved: no write.
	same := first
	same.Secrets = []status.SecretStatus{first.Secrets[0]}
	same.Secrets[0].LastSuccess = time.Unix(200, 0)
	same.UpdatedAt = time.Unix(200, 0)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.writeRound(same)
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a round with only new times was written")
	}

	// A state change is written at once.
	failed := same
	failed.Secrets = []status.SecretStatus{same.Secrets[0]}
	failed.Secrets[0].State = status.StateFailed
	failed.Secrets[0].LastError = "read secret/data/db: 503 Service Unavailable"
	w.writeRound(failed)
	got, err := status.ReadFile(path)
	if err != nil {
		t.Fatalf("changed round not written: %v", err)
	}
	if got.Secrets[0].State != status.StateFailed {
		t.Errorf("state = %s, want failed", got.Secrets[0].State)
	}
}
