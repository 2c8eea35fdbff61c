// Command bench compares secrets-sync with a plain Go HTTP reader (the
// floor), Vault Agent and consul-template on one machine in one run. It
// starts a Vault dev server on 127.0.0.1, seeds KV v2 secrets, runs every
// tool several times in alternation, and prints the medians of wall time,
// CPU time and peak RSS with the requests each tool sent. It can also write
// the results into a Markdown page and draw a PNG chart, and it measures
// `secrets-sync watch` when the binary has that command.
//
// scripts/bench.sh builds every binary and runs this command; see
// docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	vaultBin, consulTemplateBin, syncBin, floorBin, launcherBin string

	sizes       []int
	rootSizes   []int // sizes measured again with the root token, after sizes
	runs        int
	concurrency int
	only        []string // variant keys; empty means all
	rootToken   bool     // read with the root token instead of a token of readPolicy

	workDir, shmDir string
	markdown, chart string
	command         string // the command line recorded in the Markdown page
	revision        string // the secrets-sync revision recorded in the page
	keep            bool

	watch             bool
	watchSecrets      int
	watchInterval     time.Duration
	watchIdleInterval time.Duration
	watchWindow       time.Duration
}

func (o *options) selected(key string) bool {
	return len(o.only) == 0 || slices.Contains(o.only, key)
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.vaultBin, "vault", "", "Vault binary, run as the dev server and as Vault Agent (required)")
	fs.StringVar(&o.consulTemplateBin, "consul-template", "", "consul-template binary (required unless -only leaves it out)")
	fs.StringVar(&o.syncBin, "secrets-sync", "", "secrets-sync binary (required)")
	fs.StringVar(&o.floorBin, "floor", "", "binary of the floor reader in scripts/bench/floor (required)")
	fs.StringVar(&o.launcherBin, "rusage", "", "binary of the launcher in scripts/bench/rusage that measures each run (required)")

	sizes := fs.String("sizes", "100,1000,10000", "comma-separated numbers of secrets")
	rootSizes := fs.String("root-sizes", "1000", "comma-separated numbers of secrets measured again with the root token, which shows each tool's own cost with less of the server's (empty: none; ignored with -token root)")
	fs.IntVar(&o.runs, "runs", 5, "timed runs of each tool per number of secrets; the table shows the median")
	fs.IntVar(&o.concurrency, "concurrency", 16, "requests in flight for the floor reader (secrets-sync uses its default, also 16)")
	token := fs.String("token", "policy", `token every tool reads with: "policy" (a token that may only read the secrets) or "root"; Vault skips the ACL check for root, so its reads cost the server less`)
	only := fs.String("only", "", "comma-separated variants to run, from: "+strings.Join(variantOrder, ", ")+" (default all)")
	fs.StringVar(&o.workDir, "work-dir", "", "folder on the repository's disk for configs, logs and the disk output; a new folder is made inside it (required)")
	fs.StringVar(&o.shmDir, "shm-dir", "/dev/shm", "memory-backed folder; a new folder is made inside it for the outputs")
	fs.StringVar(&o.markdown, "markdown", "", "Markdown page whose generated section receives the results (empty: none)")
	fs.StringVar(&o.chart, "chart", "", "PNG file for the chart of wall time and peak RSS against the number of secrets (empty: none)")
	fs.StringVar(&o.command, "command", "", "command line to record in the Markdown page")
	fs.StringVar(&o.revision, "revision", "", "secrets-sync revision to record in the Markdown page")
	fs.BoolVar(&o.keep, "keep", false, "keep the work and output folders after the run")

	fs.BoolVar(&o.watch, "watch", true, "also run the watch benchmark when secrets-sync has a watch command")
	fs.IntVar(&o.watchSecrets, "watch-secrets", 1000, "number of secrets in the watch benchmark")
	fs.DurationVar(&o.watchInterval, "watch-interval", 2*time.Second, "refreshInterval of the busy watch run")
	fs.DurationVar(&o.watchIdleInterval, "watch-idle-interval", 5*time.Minute, "refreshInterval of the idle watch run, longer than the window")
	fs.DurationVar(&o.watchWindow, "watch-window", 30*time.Second, "measured time of each watch run, after its first pass")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	switch *token {
	case "policy":
	case "root":
		o.rootToken = true
	default:
		return o, fmt.Errorf("invalid -token %q; use policy or root", *token)
	}
	var err error
	if o.sizes, err = parseSizes("sizes", *sizes); err != nil {
		return o, err
	}
	if len(o.sizes) == 0 {
		return o, errors.New("invalid -sizes; give positive integers such as 100,1000")
	}
	if *rootSizes != "" && !o.rootToken {
		if o.rootSizes, err = parseSizes("root-sizes", *rootSizes); err != nil {
			return o, err
		}
	}

	if *only != "" {
		for _, key := range strings.Split(*only, ",") {
			key = strings.TrimSpace(key)
			if !slices.Contains(variantOrder, key) {
				return o, fmt.Errorf("invalid -only entry %q; use %s", key, strings.Join(variantOrder, ", "))
			}
			o.only = append(o.only, key)
		}
	}

	switch {
	case o.runs < 1:
		return o, errors.New("invalid -runs; give 1 or more")
	case o.concurrency < 1:
		return o, errors.New("invalid -concurrency; give 1 or more")
	case o.vaultBin == "" || o.syncBin == "" || o.floorBin == "" || o.launcherBin == "":
		return o, errors.New("-vault, -secrets-sync, -floor and -rusage are required; scripts/bench.sh sets them")
	case o.consulTemplateBin == "" && o.selected(keyConsulTemplate):
		return o, errors.New("-consul-template is required unless -only leaves consul-template out")
	case o.workDir == "":
		return o, errors.New("-work-dir is required")
	case o.watch && (o.watchSecrets < 1 || o.watchInterval <= 0 || o.watchIdleInterval <= 0 || o.watchWindow <= 0):
		return o, errors.New("invalid watch settings; -watch-secrets, -watch-interval, -watch-idle-interval and -watch-window must be positive")
	}
	return o, nil
}

// parseSizes parses the comma-separated value of flag name into sorted,
// distinct positive integers.
func parseSizes(name, value string) ([]int, error) {
	var sizes []int
	for _, field := range strings.Split(value, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("invalid -%s entry %q; give positive integers such as 100,1000", name, field)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	return slices.Compact(sizes), nil
}

func main() {
	opts, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func run(ctx context.Context, opts options) error {
	b := &benchmark{opts: opts}
	if err := os.MkdirAll(opts.workDir, 0o700); err != nil {
		return err
	}
	var err error
	if b.workDir, err = os.MkdirTemp(opts.workDir, "bench-"); err != nil {
		return err
	}
	if b.shmDir, err = os.MkdirTemp(opts.shmDir, "secrets-sync-bench-"); err != nil {
		os.RemoveAll(b.workDir)
		return err
	}
	defer func() {
		if opts.keep {
			logf("kept %s and %s", b.workDir, b.shmDir)
			return
		}
		os.RemoveAll(b.shmDir)
		os.RemoveAll(b.workDir)
	}()
	b.home = filepath.Join(b.workDir, "home")
	for _, dir := range []string{b.home, filepath.Join(b.workDir, "logs")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}

	machine := describeMachine(opts)
	if load, _, _ := strings.Cut(machine.LoadStart, " "); load != "unknown" {
		if v, err := strconv.ParseFloat(load, 64); err == nil && v > 0.5 {
			logf("warning: the 1-minute load average is %s before the start; other processes will slow every tool", load)
		}
	}
	logf("starting the Vault dev server")
	b.server, err = startDevServer(ctx, opts.vaultBin, b.workDir)
	if err != nil {
		return err
	}
	defer b.server.stop()
	b.proxy, err = startCountingProxy(b.server.addr)
	if err != nil {
		return err
	}
	defer b.proxy.close()

	b.token, err = b.server.createReadToken(ctx)
	if err != nil {
		return err
	}
	if opts.rootToken {
		b.token = b.server.rootToken
	}
	b.tokenFile = filepath.Join(b.workDir, "token")
	if err := os.WriteFile(b.tokenFile, []byte(b.token), 0o600); err != nil {
		return err
	}
	mainToken, mainTokenFile := b.token, b.tokenFile

	seedCount := opts.sizes[len(opts.sizes)-1]
	if len(opts.rootSizes) > 0 {
		seedCount = max(seedCount, opts.rootSizes[len(opts.rootSizes)-1])
	}
	if opts.watch {
		seedCount = max(seedCount, opts.watchSecrets)
	}
	seedStart := time.Now()
	b.passwords, err = b.server.seed(ctx, seedCount, 32)
	if err != nil {
		return err
	}
	logf("seeded %d secrets in %s", seedCount, formatSeconds(time.Since(seedStart)))

	var results []*sizeResult
	for _, n := range opts.sizes {
		r, err := b.runSize(ctx, n)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	var rootResults []*sizeResult
	if len(opts.rootSizes) > 0 {
		b.token = b.server.rootToken
		b.tokenFile = filepath.Join(b.workDir, "root-token")
		if err := os.WriteFile(b.tokenFile, []byte(b.token), 0o600); err != nil {
			return err
		}
		for _, n := range opts.rootSizes {
			logf("N=%d again, with the root token", n)
			r, err := b.runSize(ctx, n)
			if err != nil {
				return err
			}
			r.Root = true
			rootResults = append(rootResults, r)
		}
		// The watch benchmark reads with the token of the main sizes.
		b.token, b.tokenFile = mainToken, mainTokenFile
	}

	var watch *watchReport
	if opts.watch {
		watch, err = b.runWatch(ctx)
		if err != nil {
			return err
		}
	}

	machine.LoadEnd = loadAverage()
	report := &report{opts: opts, machine: machine, sizes: results, rootSizes: rootResults, watch: watch, seeded: seedCount}
	fmt.Print(report.text())
	if opts.markdown != "" {
		if err := report.writeMarkdown(opts.markdown); err != nil {
			return err
		}
		logf("wrote %s", opts.markdown)
	}
	if opts.chart != "" {
		if err := drawChart(opts.chart, results); err != nil {
			return err
		}
		logf("wrote %s", opts.chart)
	}
	return nil
}
