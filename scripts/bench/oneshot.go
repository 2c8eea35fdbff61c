package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Keys of the measured variants, in table order.
const (
	keyFloor          = "floor"
	keySync           = "secrets-sync"
	keySyncUnchanged  = "secrets-sync-unchanged"
	keySyncDisk       = "secrets-sync-disk"
	keyAgent          = "vault-agent"
	keyConsulTemplate = "consul-template"
)

var variantOrder = []string{keyFloor, keySync, keySyncUnchanged, keySyncDisk, keyAgent, keyConsulTemplate}

var variantLabels = map[string]string{
	keyFloor:          "floor: Go net/http, 16 workers",
	keySync:           "secrets-sync sync --once",
	keySyncUnchanged:  "secrets-sync, unchanged re-run",
	keySyncDisk:       "secrets-sync, repo disk",
	keyAgent:          "Vault Agent 1.13 -exit-after-auth",
	keyConsulTemplate: "consul-template 0.41.1 -once",
}

// childTimeout bounds one run of one tool.
const childTimeout = 10 * time.Minute

// variant is one way of reading every secret that the benchmark measures.
type variant struct {
	key string
	// prepare runs before each run, untimed; it clears the output folder.
	prepare func() error
	// command builds the child process that reads from addr.
	command func(addr string) *exec.Cmd
	// verify runs after each run, untimed; it checks the files written.
	verify func() error
}

// sizeResult holds every measurement for one number of secrets.
type sizeResult struct {
	N       int
	Root    bool // read with the root token while the main sizes used the policy token
	Samples map[string][]sample
	Counts  map[string]requestCounts // from the untimed run through the proxy
}

// benchmark is the state shared by the one-shot and watch benchmarks.
type benchmark struct {
	opts      options
	server    *devServer
	proxy     *countingProxy
	token     string
	tokenFile string
	passwords []string
	workDir   string // on the repository's disk: configs, logs, disk output
	shmDir    string // memory-backed output folders
	home      string // an empty HOME for every child
}

// childEnv returns a minimal environment for a child: PATH, the empty
// HOME and extra, and no VAULT_* or CONSUL_* variable of the caller.
func (b *benchmark) childEnv(extra ...string) []string {
	return append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + b.home}, extra...)
}

// variants builds the variants for n secrets and writes their configs.
func (b *benchmark) variants(n int) (map[string]*variant, error) {
	suffix := strconv.Itoa(n)
	configDir := filepath.Join(b.workDir, "config-"+suffix)
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		return nil, err
	}
	syncShm := filepath.Join(b.shmDir, "sync-"+suffix)
	syncDisk := filepath.Join(b.workDir, "out-sync-"+suffix)
	agentOut := filepath.Join(b.shmDir, "agent-"+suffix)
	consulOut := filepath.Join(b.shmDir, "consul-template-"+suffix)

	syncShmConfig := filepath.Join(configDir, "sync-shm.yaml")
	syncDiskConfig := filepath.Join(configDir, "sync-disk.yaml")
	consulConfig := filepath.Join(configDir, "consul-template.hcl")
	if err := writeSyncConfig(syncShmConfig, syncShm, n, ""); err != nil {
		return nil, err
	}
	if err := writeSyncConfig(syncDiskConfig, syncDisk, n, ""); err != nil {
		return nil, err
	}
	if err := writeConsulTemplateConfig(consulConfig, consulOut, n); err != nil {
		return nil, err
	}
	agentConfigs := map[string]string{}
	for _, addr := range []string{b.server.addr, b.proxy.addr} {
		path := filepath.Join(configDir, fmt.Sprintf("agent-%d.hcl", len(agentConfigs)))
		if err := writeAgentConfig(path, addr, b.tokenFile, agentOut, n); err != nil {
			return nil, err
		}
		agentConfigs[addr] = path
	}

	syncCommand := func(config string) func(string) *exec.Cmd {
		return func(addr string) *exec.Cmd {
			cmd := exec.Command(b.opts.syncBin, "sync", "--once", "-c", config)
			cmd.Env = b.childEnv("VAULT_ADDR="+addr, "VAULT_TOKEN="+b.token)
			return cmd
		}
	}
	var before []time.Time
	return map[string]*variant{
		keyFloor: {
			key: keyFloor,
			command: func(addr string) *exec.Cmd {
				cmd := exec.Command(b.opts.floorBin, "-addr", addr, "-token-file", b.tokenFile,
					"-n", suffix, "-workers", strconv.Itoa(b.opts.concurrency))
				cmd.Env = b.childEnv()
				return cmd
			},
		},
		keySync: {
			key:     keySync,
			prepare: func() error { return clearFolder(syncShm) },
			command: syncCommand(syncShmConfig),
			verify:  func() error { return b.verifyFiles(syncShm, n) },
		},
		keySyncUnchanged: {
			key: keySyncUnchanged,
			prepare: func() error {
				var err error
				before, err = modTimes(syncShm, n)
				return err
			},
			command: syncCommand(syncShmConfig),
			verify: func() error {
				if err := b.verifyFiles(syncShm, n); err != nil {
					return err
				}
				return checkUnchanged(syncShm, before)
			},
		},
		keySyncDisk: {
			key:     keySyncDisk,
			prepare: func() error { return clearFolder(syncDisk) },
			command: syncCommand(syncDiskConfig),
			verify:  func() error { return b.verifyFiles(syncDisk, n) },
		},
		keyAgent: {
			key:     keyAgent,
			prepare: func() error { return clearFolder(agentOut) },
			command: func(addr string) *exec.Cmd {
				cmd := exec.Command(b.opts.vaultBin, "agent", "-config="+agentConfigs[addr], "-exit-after-auth")
				cmd.Env = b.childEnv()
				return cmd
			},
			verify: func() error { return b.verifyFiles(agentOut, n) },
		},
		keyConsulTemplate: {
			key:     keyConsulTemplate,
			prepare: func() error { return clearFolder(consulOut) },
			command: func(addr string) *exec.Cmd {
				cmd := exec.Command(b.opts.consulTemplateBin, "-once", "-vault-addr="+addr,
					"-vault-renew-token=false", "-config="+consulConfig)
				cmd.Env = b.childEnv("VAULT_TOKEN=" + b.token)
				return cmd
			},
			verify: func() error { return b.verifyFiles(consulOut, n) },
		},
	}, nil
}

// steps groups the variants that run back to back in a round: the
// unchanged re-run needs the files of the fresh run just before it.
var steps = [][]string{
	{keyFloor},
	{keySync, keySyncUnchanged},
	{keySyncDisk},
	{keyAgent},
	{keyConsulTemplate},
}

// runSize measures every selected variant for n secrets: first one untimed
// run of each through the counting proxy, which also warms up the server
// and the page cache, then opts.runs timed rounds straight to the server.
// Each round starts one step later in the list, so no variant always runs
// right after the same one.
func (b *benchmark) runSize(ctx context.Context, n int) (*sizeResult, error) {
	variants, err := b.variants(n)
	if err != nil {
		return nil, err
	}
	result := &sizeResult{N: n, Samples: map[string][]sample{}, Counts: map[string]requestCounts{}}
	var selected [][]string
	for _, step := range steps {
		var keep []string
		for _, key := range step {
			if b.opts.selected(key) {
				keep = append(keep, key)
			}
		}
		if len(keep) > 0 {
			selected = append(selected, keep)
		}
	}

	logf("N=%d: counting run through the proxy", n)
	for _, step := range selected {
		for _, key := range step {
			before := b.proxy.snapshot()
			s, err := b.runOnce(ctx, variants[key], b.proxy.addr, n)
			if err != nil {
				return nil, err
			}
			counts := b.proxy.snapshot().sub(before)
			result.Counts[key] = counts
			logf("  %-24s %8s %9s  requests %s", key, formatSeconds(s.Wall), formatMB(s.MaxRSS), counts)
		}
	}

	for round := range b.opts.runs {
		logf("N=%d: round %d of %d", n, round+1, b.opts.runs)
		for i := range selected {
			for _, key := range selected[(i+round)%len(selected)] {
				s, err := b.runOnce(ctx, variants[key], b.server.addr, n)
				if err != nil {
					return nil, err
				}
				result.Samples[key] = append(result.Samples[key], s)
				logf("  %-24s %8s %9s  cpu %s  server cpu %s", key, formatSeconds(s.Wall), formatMB(s.MaxRSS), formatSeconds(s.CPU), formatSeconds(s.ServerCPU))
			}
		}
	}
	return result, nil
}

// runOnce prepares, runs and verifies one run of v against addr.
func (b *benchmark) runOnce(ctx context.Context, v *variant, addr string, n int) (sample, error) {
	if v.prepare != nil {
		if err := v.prepare(); err != nil {
			return sample{}, fmt.Errorf("%s, N=%d: prepare: %w", v.key, n, err)
		}
	}
	logPath := filepath.Join(b.workDir, "logs", fmt.Sprintf("%s-%d.log", v.key, n))
	serverPID := b.server.cmd.Process.Pid
	serverBefore, err := processCPU(serverPID)
	if err != nil {
		return sample{}, fmt.Errorf("read the Vault server's CPU time: %w", err)
	}
	s, err := runMeasured(ctx, b.opts.launcherBin, v.command(addr), logPath, childTimeout)
	if err != nil {
		return sample{}, fmt.Errorf("%s, N=%d: %w", v.key, n, err)
	}
	serverAfter, err := processCPU(serverPID)
	if err != nil {
		return sample{}, fmt.Errorf("read the Vault server's CPU time: %w", err)
	}
	s.ServerCPU = serverAfter - serverBefore
	if v.verify != nil {
		if err := v.verify(); err != nil {
			return sample{}, fmt.Errorf("%s, N=%d: wrong output: %w", v.key, n, err)
		}
	}
	return s, nil
}

// clearFolder removes dir with its contents and creates it empty.
func clearFolder(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

// verifyFiles checks that dir/sI contains exactly the password of secret I
// for every I below n.
func (b *benchmark) verifyFiles(dir string, n int) error {
	for i := range n {
		path := filepath.Join(dir, "s"+strconv.Itoa(i))
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(data) != b.passwords[i] {
			return fmt.Errorf("%s contains %d bytes that are not the password of secret %d", path, len(data), i)
		}
	}
	return nil
}

func modTimes(dir string, n int) ([]time.Time, error) {
	times := make([]time.Time, n)
	for i := range n {
		info, err := os.Stat(filepath.Join(dir, "s"+strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		times[i] = info.ModTime()
	}
	return times, nil
}

// checkUnchanged returns an error when a file's modification time differs
// from before, which means the run rewrote a file that had not changed.
func checkUnchanged(dir string, before []time.Time) error {
	after, err := modTimes(dir, len(before))
	if err != nil {
		return err
	}
	changed := 0
	for i := range before {
		if !after[i].Equal(before[i]) {
			changed++
		}
	}
	if changed > 0 {
		return fmt.Errorf("%d of %d files in %s were rewritten although nothing changed", changed, len(before), dir)
	}
	return nil
}
