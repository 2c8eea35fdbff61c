package main_test

// Tests of the packaging. The static binary runs with chroot in a root
// folder laid out as the FROM scratch image has it, because no Docker engine
// runs here. The Dockerfile, .dockerignore, .goreleaser.yaml, the man pages
// and the examples under examples/ are read and checked too.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/secrets-sync/secrets-sync/internal/vaulttest"
	"github.com/secrets-sync/secrets-sync/pkg/config"
)

// The image's layout and user, as the Dockerfile's final stage sets them.
const (
	imageBinary = "/app/secrets-sync"
	imageCA     = "/etc/ssl/certs/ca-certificates.crt"
	imageUID    = 65534
	imageGID    = 65534
)

// maxImageBytes is the size limit for the uncompressed image. The image holds
// the binary and the CA bundle, so their sizes add up to its size, give or
// take a few kilobytes of tar headers and image metadata.
const maxImageBytes = 20_000_000

// versionPackage is the import path whose variables -ldflags -X sets.
const versionPackage = "github.com/secrets-sync/secrets-sync/cmd"

// stamps are the values the static build gives each variable of
// cmd/version.go, so the tests can see that -ldflags reached them.
var stamps = map[string]string{
	"version": "1.2.3-packaging",
	"commit":  "0123456789abcdef0123456789abcdef01234567",
	"date":    "2026-01-02T03:04:05Z",
}

var staticBuilt struct {
	once sync.Once
	path string
	err  error
}

// staticBinary builds secrets-sync as the Dockerfile does: CGO_ENABLED=0,
// -trimpath, -s -w, and every variable of cmd/version.go stamped with -X.
func staticBinary(t *testing.T) string {
	t.Helper()
	vars := versionVariables(t)
	staticBuilt.once.Do(func() {
		dir, err := os.MkdirTemp("", "secrets-sync-static-")
		if err != nil {
			staticBuilt.err = err
			return
		}
		ldflags := []string{"-s", "-w"}
		for _, name := range vars {
			value, ok := stamps[name]
			if !ok {
				staticBuilt.err = fmt.Errorf("cmd/version.go has variable %q, which packaging_test.go gives no stamp", name)
				return
			}
			ldflags = append(ldflags, "-X", versionPackage+"."+name+"="+value)
		}
		staticBuilt.path = filepath.Join(dir, "secrets-sync")
		build := exec.Command("go", "build", "-trimpath", "-ldflags", strings.Join(ldflags, " "), "-o", staticBuilt.path, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			staticBuilt.err = fmt.Errorf("static go build: %v\n%s", err, out)
		}
	})
	if staticBuilt.err != nil {
		t.Fatal(staticBuilt.err)
	}
	return staticBuilt.path
}

// versionVariables returns the names of the package-level variables in
// cmd/version.go, the ones the Dockerfile and .goreleaser.yaml stamp.
func versionVariables(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join("cmd", "version.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.VAR {
			continue
		}
		for _, spec := range gen.Specs {
			for _, name := range spec.(*ast.ValueSpec).Names {
				names = append(names, name.Name)
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("cmd/version.go declares no package-level variables for -ldflags -X")
	}
	return names
}

// stampedVersionLine is what version prints for the static build.
func stampedVersionLine() string {
	return fmt.Sprintf("secrets-sync %s (commit %s, built %s, %s %s/%s)\n",
		stamps["version"], stamps["commit"], stamps["date"], runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func TestStaticBinarySizeAndLinking(t *testing.T) {
	bin := staticBinary(t)
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("the binary names a dynamic loader (PT_INTERP), so it cannot run FROM scratch")
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		if len(libs) > 0 {
			t.Errorf("the binary needs shared libraries %v, so it cannot run FROM scratch", libs)
		}
	}

	info, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	size := info.Size()
	if ca, err := os.Stat(imageCA); err == nil {
		size += ca.Size()
	}
	t.Logf("static binary %d bytes (%.1f MB); with this machine's CA bundle the image is an estimated %.1f MB uncompressed",
		info.Size(), float64(info.Size())/1e6, float64(size)/1e6)
	if size >= maxImageBytes {
		t.Errorf("estimated image size %d bytes, want under %d", size, maxImageBytes)
	}
}

// requireRoot skips a test that needs chroot and chown when not run as
// root, and fails it in CI, which runs as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("chroot tests run on Linux only")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root for chroot, and CI runs as root; run the suite as root")
		}
		t.Skip("needs root for chroot; run as root to check the binary in an image-like root folder")
	}
}

// scratchRoot lays out a folder as the image's final stage has it: the static
// binary at /app/secrets-sync, caBundle at /etc/ssl/certs/ca-certificates.crt,
// and an empty /tmp with mode 1777. Nothing else is there: no shell, no libc,
// no /etc/passwd.
func scratchRoot(t *testing.T, caBundle []byte) string {
	t.Helper()
	root := t.TempDir()
	// After chroot, user 65534 resolves every path from this folder.
	mustChmod(t, root, 0o755)
	mustMkdir(t, filepath.Join(root, "app"), 0o755)
	data, err := os.ReadFile(staticBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, imageBinary), data, 0o755)
	mustMkdir(t, filepath.Join(root, filepath.Dir(imageCA)), 0o755)
	mustWrite(t, filepath.Join(root, imageCA), caBundle, 0o644)
	mustMkdir(t, filepath.Join(root, "tmp"), 0o755)
	mustChmod(t, filepath.Join(root, "tmp"), os.ModeSticky|0o777)
	return root
}

// hostCABundle returns this machine's CA bundle, or nothing when it has
// none; the plain-http tests do not read it.
func hostCABundle(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(imageCA)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return data
}

// userDir creates a folder inside root that the image's user owns.
func userDir(t *testing.T, root, name string, mode os.FileMode) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, imageUID, imageGID); err != nil {
		t.Fatal(err)
	}
	mustChmod(t, dir, mode)
	return dir
}

// rootCommand returns a command that runs the image's binary chrooted into
// root as the image's user, in the supplementary groups (as a pod's fsGroup
// adds one), with only env as its environment.
func rootCommand(root string, groups []uint32, env []string, args ...string) *exec.Cmd {
	c := exec.Command(imageBinary, args...)
	c.Dir = "/"
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: imageUID, Gid: imageGID, Groups: groups},
	}
	return c
}

// runInRoot runs the image's binary in root and waits for it.
func runInRoot(t *testing.T, root string, env []string, args ...string) result {
	t.Helper()
	return runInRootAs(t, root, nil, env, args...)
}

func runInRootAs(t *testing.T, root string, groups []uint32, env []string, args ...string) result {
	t.Helper()
	c := rootCommand(root, groups, env, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		res.code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v in %s: %v", args, root, err)
	}
	return res
}

// background is a long-running command, such as watch, started by
// startInRoot. stop sends SIGTERM and returns its exit code.
type background struct {
	cmd            *exec.Cmd
	done           chan struct{}
	stdout, stderr *syncBuffer
}

func startInRoot(t *testing.T, root string, env []string, args ...string) *background {
	t.Helper()
	return startInRootAs(t, root, nil, env, args...)
}

func startInRootAs(t *testing.T, root string, groups []uint32, env []string, args ...string) *background {
	t.Helper()
	b := &background{done: make(chan struct{}), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	b.cmd = rootCommand(root, groups, env, args...)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", args, root, err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// stop sends SIGTERM and waits up to 15s for the process to exit.
func (b *background) stop(t *testing.T) int {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		t.Errorf("%v did not exit within 15s of SIGTERM\nstderr:\n%s", b.cmd.Args, b.stderr.String())
	}
	return b.cmd.ProcessState.ExitCode()
}

func (b *background) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// syncBuffer is a bytes.Buffer that a process may write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitReady runs check every 200ms until it exits 0 or timeout passes, and
// returns the last result. Exit code 2, a usage error, returns at once,
// because waiting cannot change it.
func waitReady(t *testing.T, timeout time.Duration, watch *background, check func() result) result {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		res := check()
		if res.code == 0 || res.code == 2 || time.Now().After(deadline) {
			return res
		}
		if watch.exited() {
			t.Fatalf("watch exited with code %d before it was ready\nstderr:\n%s", watch.cmd.ProcessState.ExitCode(), watch.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeLoopbackAddress returns 127.0.0.1:PORT with a port that was free a
// moment ago.
func freeLoopbackAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// requireCommand fails the test when the binary's help lists no such
// subcommand.
func requireCommand(t *testing.T, name string) {
	t.Helper()
	if _, ok := readCLI(t).commands[name]; !ok {
		t.Fatalf("secrets-sync has no %q command; the image's CMD, healthcheck and examples need it", name)
	}
}

func TestImageRootRunsBinary(t *testing.T) {
	requireRoot(t)
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "image/db", map[string]any{"username": "image-user", "password": "image-pw"})
	root := scratchRoot(t, hostCABundle(t))
	userDir(t, root, "out", 0o755)
	config := `
secretStore:
  address: ${VAULT_ADDR}
secrets:
  - name: db
    key: image/db
    files:
      - path: /out/db.env
        template: "USER={{ .username }}\nPASSWORD={{ .password }}\n"
      - path: /out/db-password
        field: password
`
	mustWrite(t, filepath.Join(root, "config.yaml"), []byte(config), 0o644)
	env := []string{"VAULT_ADDR=" + s.Addr, "VAULT_TOKEN=" + s.RootToken}

	t.Run("version", func(t *testing.T) {
		res := runInRoot(t, root, nil, "version")
		expectCode(t, res, 0)
		if res.stdout != stampedVersionLine() {
			t.Errorf("version = %q, want %q", res.stdout, stampedVersionLine())
		}
		flag := runInRoot(t, root, nil, "--version")
		expectCode(t, flag, 0)
		if flag.stdout != res.stdout {
			t.Errorf("--version = %q, want the version command's %q", flag.stdout, res.stdout)
		}
	})

	t.Run("sync once", func(t *testing.T) {
		res := runInRoot(t, root, env, "sync", "--once", "--config", "/config.yaml")
		expectCode(t, res, 0)
		want := map[string]string{
			"db.env":      "USER=image-user\nPASSWORD=image-pw\n",
			"db-password": "image-pw",
		}
		for name, content := range want {
			path := filepath.Join(root, "out", name)
			if got := readFile(t, path); got != content {
				t.Errorf("/out/%s = %q, want %q", name, got, content)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if uid := info.Sys().(*syscall.Stat_t).Uid; uid != imageUID {
				t.Errorf("/out/%s owner = %d, want the image's user %d", name, uid, imageUID)
			}
		}
	})

	t.Run("isready after watch", func(t *testing.T) {
		requireCommand(t, "watch")
		requireCommand(t, "isready")
		statusPath := filepath.Join(root, "tmp", "secrets-sync.status.json")
		if err := os.Remove(statusPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		// No status file yet: not ready.
		expectCode(t, runInRoot(t, root, nil, "isready"), 1)

		// The defaults, as the image's HEALTHCHECK uses them: watch writes
		// the status file in /tmp, and isready reads it from there.
		watch := startInRoot(t, root, env, "watch", "--config", "/config.yaml", "--listen", freeLoopbackAddress(t))
		res := waitReady(t, 30*time.Second, watch, func() result { return runInRoot(t, root, nil, "isready") })
		if res.code != 0 {
			t.Fatalf("isready exit code = %d after 30s, want 0\nisready stderr:\n%s\nwatch stderr:\n%s", res.code, res.stderr, watch.stderr.String())
		}
		if _, err := os.Stat(statusPath); err != nil {
			t.Errorf("watch wrote no status file at /tmp/secrets-sync.status.json: %v", err)
		}
		explicit := runInRoot(t, root, nil, "isready", "--status-file", "/tmp/secrets-sync.status.json")
		expectCode(t, explicit, 0)
		absent := runInRoot(t, root, nil, "isready", "--status-file", "/tmp/absent.status.json")
		expectCode(t, absent, 1)
		if got := readFile(t, filepath.Join(root, "out", "db-password")); got != "image-pw" {
			t.Errorf("/out/db-password after watch = %q, want %q", got, "image-pw")
		}
		if code := watch.stop(t); code != 0 {
			t.Errorf("watch exit code after SIGTERM = %d, want 0\nstderr:\n%s", code, watch.stderr.String())
		}
	})
}

func TestImageRootCABundle(t *testing.T) {
	requireRoot(t)
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "image/tls", map[string]any{"v": "over-tls"})
	address, caFile := tlsFront(t, s, t.TempDir())
	testCA, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	config := []byte(`
secretStore:
  address: ` + address + `
secrets:
  - {name: app, key: image/tls, files: [{path: /out/v, field: v}]}
`)
	env := []string{"VAULT_TOKEN=" + s.RootToken}
	host := hostCABundle(t)
	cases := []struct {
		name   string
		bundle []byte
		code   int
	}{
		// The config names no CA, so only the bundle at the image's
		// path can make the server's certificate trusted.
		{name: "test CA in the bundle", bundle: append(slices.Clone(host), testCA...), code: 0},
		{name: "test CA not in the bundle", bundle: host, code: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := scratchRoot(t, c.bundle)
			userDir(t, root, "out", 0o755)
			mustWrite(t, filepath.Join(root, "config.yaml"), config, 0o644)
			res := runInRoot(t, root, env, "sync", "--once", "--config", "/config.yaml", "--timeout", "5s")
			expectCode(t, res, c.code)
			if c.code == 0 {
				if got := readFile(t, filepath.Join(root, "out", "v")); got != "over-tls" {
					t.Errorf("/out/v = %q, want %q", got, "over-tls")
				}
			}
		})
	}
}

// cliCommand is one command of the binary as its --help output shows it.
type cliCommand struct {
	path     []string
	flags    map[string]cliFlag // by long name, the command's own and inherited
	short    map[string]string  // shorthand letter to long name
	commands map[string]*cliCommand
}

type cliFlag struct {
	takesValue bool
}

var cliRead struct {
	once sync.Once
	root *cliCommand
	err  error
}

// readCLI reads the command tree and every command's flags from the built
// binary's --help output.
func readCLI(t *testing.T) *cliCommand {
	t.Helper()
	bin := binary(t)
	cliRead.once.Do(func() {
		cliRead.root, cliRead.err = readCLICommand(bin, nil)
	})
	if cliRead.err != nil {
		t.Fatal(cliRead.err)
	}
	return cliRead.root
}

func readCLICommand(bin string, path []string) (*cliCommand, error) {
	args := append(slices.Clone(path), "--help")
	c := exec.Command(bin, args...)
	c.Env = []string{"HOME=" + os.TempDir(), "PATH=/usr/bin:/bin"}
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("secrets-sync %s: %v", strings.Join(args, " "), err)
	}
	cmd := &cliCommand{path: path, flags: map[string]cliFlag{}, short: map[string]string{}, commands: map[string]*cliCommand{}}
	names := parseHelp(string(out), cmd)
	if len(cmd.flags) == 0 {
		return nil, fmt.Errorf("secrets-sync %s: found no flags in the output:\n%s", strings.Join(args, " "), out)
	}
	for _, name := range names {
		if name == "help" {
			continue
		}
		sub, err := readCLICommand(bin, append(slices.Clone(path), name))
		if err != nil {
			return nil, err
		}
		cmd.commands[name] = sub
	}
	return cmd, nil
}

// helpFlagLine matches a pflag usage line: "  -c, --config string   text",
// "      --once   text", or "      --flag[=value]   text" for a flag whose
// value is optional.
var helpFlagLine = regexp.MustCompile(`^\s+(?:-([A-Za-z0-9]), )?--([A-Za-z0-9][A-Za-z0-9-]*)(\[=[^\]]*\])?(?: (\S+))?(?:\s{2,}|$)`)

// helpCommandLine matches "  name   Short text" under "Available Commands:".
var helpCommandLine = regexp.MustCompile(`^\s+(\S+)\s{2,}\S`)

// parseHelp adds the flags of a cobra help text to cmd and returns the
// names of its subcommands.
func parseHelp(text string, cmd *cliCommand) []string {
	var names []string
	section := ""
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		switch section {
		case "Available Commands":
			if m := helpCommandLine.FindStringSubmatch(line); m != nil {
				names = append(names, m[1])
			}
		case "Flags", "Global Flags":
			m := helpFlagLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			cmd.flags[m[2]] = cliFlag{takesValue: m[3] == "" && m[4] != ""}
			if m[1] != "" {
				cmd.short[m[1]] = m[2]
			}
		}
	}
	return names
}

// parsedCommandLine is a secrets-sync command line checked against the
// binary's help: its subcommand path and the flags it sets.
type parsedCommandLine struct {
	path  []string
	flags map[string]string // long name to value ("true" for a flag without one)
}

func (p parsedCommandLine) command() string { return strings.Join(p.path, " ") }

// checkCommandLine checks args (what follows the binary's name) against the
// command tree: every word before the flags names a subcommand, every flag
// exists on that subcommand, and every flag that takes a value has one.
func checkCommandLine(root *cliCommand, args []string) (parsedCommandLine, error) {
	parsed := parsedCommandLine{flags: map[string]string{}}
	cmd := root
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case strings.HasPrefix(arg, "--"):
			name, value, hasValue := strings.Cut(arg[2:], "=")
			flag, ok := cmd.flags[name]
			if !ok {
				return parsed, fmt.Errorf("unknown flag --%s for %q", name, "secrets-sync "+strings.Join(cmd.path, " "))
			}
			if flag.takesValue && !hasValue {
				if i+1 >= len(args) {
					return parsed, fmt.Errorf("flag --%s needs a value", name)
				}
				i++
				value = args[i]
			}
			if !flag.takesValue && !hasValue {
				value = "true"
			}
			parsed.flags[name] = value
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			name, ok := cmd.short[arg[1:2]]
			if !ok {
				return parsed, fmt.Errorf("unknown shorthand flag %s for %q", arg[:2], "secrets-sync "+strings.Join(cmd.path, " "))
			}
			value := strings.TrimPrefix(arg[2:], "=")
			if cmd.flags[name].takesValue && value == "" {
				if i+1 >= len(args) {
					return parsed, fmt.Errorf("flag %s needs a value", arg)
				}
				i++
				value = args[i]
			}
			if value == "" {
				value = "true"
			}
			parsed.flags[name] = value
		default:
			sub, ok := cmd.commands[arg]
			if !ok || len(parsed.flags) > 0 {
				return parsed, fmt.Errorf("unexpected argument %q for %q", arg, "secrets-sync "+strings.Join(cmd.path, " "))
			}
			cmd = sub
			parsed.path = sub.path
		}
	}
	if len(parsed.path) == 0 && len(parsed.flags) == 0 {
		return parsed, errors.New("no subcommand")
	}
	return parsed, nil
}

// exampleCommand is a secrets-sync command line found in an example file.
type exampleCommand struct {
	where string   // file and location, for messages
	argv  []string // argv[0] is the binary
}

// dockerfileCMD returns the Dockerfile's CMD, which a Compose service
// without a command runs.
func dockerfileCMD(t *testing.T) []string {
	t.Helper()
	for _, inst := range readDockerfile(t).final().instructions {
		if inst.name == "CMD" {
			return execForm(t, inst)
		}
	}
	t.Fatal("Dockerfile: the final stage has no CMD")
	return nil
}

// stringList reads a Compose or Kubernetes command: a list of strings, or
// a string that a shell would split into words.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return shellWords(v)
	case []any:
		var out []string
		for _, item := range v {
			out = append(out, fmt.Sprint(item))
		}
		return out
	}
	return nil
}

// shellWords splits one shell command into words, with single and double
// quotes and backslash escapes, and stops at the first redirection or
// operator (>, <, |, ;, &), which is not part of the command's arguments.
func shellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(runes) {
				i++
				word.WriteRune(runes[i])
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(runes):
			i++
			if runes[i] != '\n' {
				word.WriteRune(runes[i])
				inWord = true
			}
		case r == ' ' || r == '\t' || r == '\n':
			flush()
		case r == '#' && !inWord:
			// A comment runs to the end of the line.
			flush()
			return words
		case strings.ContainsRune("><|;&", r):
			// A "2>" redirection starts with a digit that is not an argument.
			if r == '>' && word.String() == "2" {
				word.Reset()
				inWord = false
			}
			flush()
			return words
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words
}

// isSecretsSyncBinary reports whether word names the secrets-sync binary.
func isSecretsSyncBinary(word string) bool {
	return path.Base(word) == "secrets-sync"
}

// composeFile is the part of a Compose file these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]struct {
		Driver     string            `yaml:"driver"`
		DriverOpts map[string]string `yaml:"driver_opts"`
	} `yaml:"volumes"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Entrypoint  any            `yaml:"entrypoint"`
	Command     any            `yaml:"command"`
	Environment any            `yaml:"environment"`
	User        string         `yaml:"user"`
	GroupAdd    []any          `yaml:"group_add"`
	Volumes     []string       `yaml:"volumes"`
	DependsOn   map[string]any `yaml:"depends_on"`
	Healthcheck struct {
		Test    any  `yaml:"test"`
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
}

// runsSecretsSync reports whether the service runs the secrets-sync image.
func (s composeService) runsSecretsSync() bool {
	return strings.Contains(s.Image, "secrets-sync") || s.Build != nil
}

// argv returns what the service runs: its entrypoint, or the image's, and
// its command, or the image's CMD.
func (s composeService) argv(t *testing.T) []string {
	t.Helper()
	entrypoint := stringList(s.Entrypoint)
	if entrypoint == nil {
		entrypoint = []string{imageBinary}
	}
	command := stringList(s.Command)
	if command == nil {
		command = dockerfileCMD(t)
	}
	return append(entrypoint, command...)
}

// healthcheckArgv returns the healthcheck's command, without the leading
// "CMD"; a "CMD-SHELL" test cannot run in the image, which has no shell.
func (s composeService) healthcheckArgv() ([]string, error) {
	test := stringList(s.Healthcheck.Test)
	if len(test) == 0 {
		return nil, nil
	}
	if list, ok := s.Healthcheck.Test.([]any); ok && len(list) > 0 {
		switch list[0] {
		case "CMD":
			return test[1:], nil
		case "NONE":
			return nil, nil
		default:
			return nil, fmt.Errorf("healthcheck test %q needs a shell, which the image lacks; use the CMD form", test)
		}
	}
	return nil, fmt.Errorf("healthcheck test %q is a string, which runs in a shell, and the image has none; use [\"CMD\", ...]", s.Healthcheck.Test)
}

// environment returns the service's environment as NAME=VALUE strings.
func (s composeService) environment() []string {
	var env []string
	switch e := s.Environment.(type) {
	case map[string]any:
		for name, value := range e {
			env = append(env, name+"="+fmt.Sprint(value))
		}
	case []any:
		for _, item := range e {
			env = append(env, fmt.Sprint(item))
		}
	}
	slices.Sort(env)
	return env
}

func readCompose(t *testing.T, file string) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, file)), &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", file)
	}
	return c
}

// k8sPodSpec returns the pod spec of a workload document, or nil for other
// kinds.
func k8sPodSpec(doc map[string]any) map[string]any {
	spec, _ := doc["spec"].(map[string]any)
	switch doc["kind"] {
	case "Pod":
		return spec
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		template, _ := spec["template"].(map[string]any)
		podSpec, _ := template["spec"].(map[string]any)
		return podSpec
	case "CronJob":
		jobTemplate, _ := spec["jobTemplate"].(map[string]any)
		jobSpec, _ := jobTemplate["spec"].(map[string]any)
		template, _ := jobSpec["template"].(map[string]any)
		podSpec, _ := template["spec"].(map[string]any)
		return podSpec
	}
	return nil
}

// k8sContainers returns the init containers and containers of a pod spec.
func k8sContainers(podSpec map[string]any) []map[string]any {
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := podSpec[key].([]any)
		for _, item := range list {
			if c, ok := item.(map[string]any); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// k8sArgv returns what a container runs: its command, or the image's
// entrypoint, and its args.
func k8sArgv(t *testing.T, c map[string]any) []string {
	t.Helper()
	command := stringList(c["command"])
	if command == nil {
		command = []string{imageBinary}
		if c["args"] == nil {
			return append(command, dockerfileCMD(t)...)
		}
	}
	return append(command, stringList(c["args"])...)
}

// readYAMLDocuments parses every document of a YAML file.
func readYAMLDocuments(t *testing.T, file string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, file)))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", file, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// exampleFiles returns the files under examples/ whose names end in one of
// the suffixes.
func exampleFiles(t *testing.T, suffixes ...string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, suffix := range suffixes {
			if !d.IsDir() && strings.HasSuffix(p, suffix) {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// exampleCommands returns every secrets-sync command line in the examples
// and in docs/deployment.md, grouped by the file it is in.
func exampleCommands(t *testing.T) map[string][]exampleCommand {
	t.Helper()
	found := map[string][]exampleCommand{}
	add := func(file, where string, argv []string) {
		found[file] = append(found[file], exampleCommand{where: file + ": " + where, argv: argv})
	}
	for _, file := range exampleFiles(t, ".yaml", ".yml") {
		for i, doc := range readYAMLDocuments(t, file) {
			switch {
			case doc["services"] != nil:
				compose := readCompose(t, file)
				for name, s := range compose.Services {
					if !s.runsSecretsSync() {
						continue
					}
					add(file, "service "+name, s.argv(t))
					argv, err := s.healthcheckArgv()
					if err != nil {
						t.Errorf("%s: service %s: %v", file, name, err)
					}
					if argv != nil {
						add(file, "service "+name+" healthcheck", argv)
					}
				}
			case doc["apiVersion"] != nil && doc["kind"] != nil:
				for _, c := range k8sContainers(k8sPodSpec(doc)) {
					if !strings.Contains(fmt.Sprint(c["image"]), "secrets-sync") {
						continue
					}
					name := fmt.Sprintf("document %d container %v", i+1, c["name"])
					add(file, name, k8sArgv(t, c))
					for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
						p, _ := c[probe].(map[string]any)
						action, _ := p["exec"].(map[string]any)
						if argv := stringList(action["command"]); argv != nil {
							add(file, name+" "+probe, argv)
						}
					}
				}
			default:
				// CI jobs and configs: any line of a string value that
				// starts with the binary, such as a run: step.
				walkStrings(doc, func(s string) {
					for _, line := range strings.Split(s, "\n") {
						if words := shellWords(line); len(words) > 0 && isSecretsSyncBinary(words[0]) {
							add(file, "line "+strconv.Quote(strings.TrimSpace(line)), words)
						}
					}
				})
			}
		}
	}
	for _, file := range exampleFiles(t, ".service") {
		for n, line := range strings.Split(readFile(t, file), "\n") {
			key, value, ok := strings.Cut(line, "=")
			if !ok || !strings.HasPrefix(key, "Exec") {
				continue
			}
			// Prefixes such as "-" (ignore failure) and "+" (full
			// privileges) come before the path.
			words := shellWords(strings.TrimLeft(value, "-+!@:"))
			if len(words) > 0 && isSecretsSyncBinary(words[0]) {
				add(file, "line "+strconv.Itoa(n+1), words)
			}
		}
	}
	for _, file := range readmeComposeBlocks(t) {
		compose := readCompose(t, file)
		for name, s := range compose.Services {
			if !s.runsSecretsSync() {
				continue
			}
			add("README.md", "service "+name, s.argv(t))
			if argv, err := s.healthcheckArgv(); err != nil {
				t.Errorf("README.md: service %s: %v", name, err)
			} else if argv != nil {
				add("README.md", "service "+name+" healthcheck", argv)
			}
		}
	}
	for _, file := range append(exampleFiles(t, ".sh"), filepath.Join("docs", "deployment.md"), "README.md") {
		text := readFile(t, file)
		if strings.HasSuffix(file, ".md") {
			text = codeBlocks(text)
		}
		for n, line := range joinContinuations(text) {
			words := shellWords(line)
			if len(words) > 0 && isSecretsSyncBinary(words[0]) {
				add(file, "line "+strconv.Itoa(n+1), words)
			}
		}
	}
	return found
}

// readmeComposeBlocks writes each YAML code block of README.md that holds
// Compose services to a file of its own and returns the files, so the
// README's snippets are checked like the examples.
func readmeComposeBlocks(t *testing.T) []string {
	t.Helper()
	var files []string
	var block []string
	inYAML := false
	for _, line := range strings.Split(readFile(t, "README.md"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !inYAML && trimmed == "```yaml":
			inYAML, block = true, nil
		case inYAML && trimmed == "```":
			inYAML = false
			text := strings.Join(block, "\n")
			if strings.Contains(text, "services:") {
				file := filepath.Join(t.TempDir(), "compose.yaml")
				if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				files = append(files, file)
			}
		case inYAML:
			block = append(block, line)
		}
	}
	return files
}

// codeBlocks blanks every line of a Markdown text that is not inside a
// fenced code block, keeping the line numbers.
func codeBlocks(text string) string {
	lines := strings.Split(text, "\n")
	inBlock := false
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			lines[i] = ""
			continue
		}
		if !inBlock {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// joinContinuations splits text into lines, with a line that ends in a
// backslash joined to the next one. Each element is indexed by the number
// of its first line minus one; the lines that were joined in are empty.
func joinContinuations(text string) []string {
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		for strings.HasSuffix(lines[i], "\\") && i+1 < len(lines) {
			next := i + 1
			for next < len(lines) && lines[next] == "" {
				next++
			}
			if next >= len(lines) {
				break
			}
			lines[i] = strings.TrimSuffix(lines[i], "\\") + " " + lines[next]
			lines[next] = ""
		}
	}
	return lines
}

func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case map[string]any:
		for _, item := range v {
			walkStrings(item, fn)
		}
	case []any:
		for _, item := range v {
			walkStrings(item, fn)
		}
	}
}

func TestExampleYAMLParses(t *testing.T) {
	files := exampleFiles(t, ".yaml", ".yml")
	if len(files) < 8 {
		t.Fatalf("found %d YAML files under examples/, want at least 8: %v", len(files), files)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			if docs := readYAMLDocuments(t, file); len(docs) == 0 {
				t.Errorf("%s holds no YAML document", file)
			}
		})
	}
}

func TestExampleCommandLinesUseRealFlags(t *testing.T) {
	cli := readCLI(t)
	found := exampleCommands(t)
	// Each kind of example runs secrets-sync at least this often, so a
	// file the extraction misses fails instead of passing with no checks.
	minimum := map[string]int{
		filepath.Join("examples", "compose", "init", "compose.yaml"):    1,
		filepath.Join("examples", "compose", "sidecar", "compose.yaml"): 2,
		filepath.Join("examples", "kubernetes", "deployment.yaml"):      3,
		filepath.Join("examples", "systemd", "secrets-sync.service"):    2,
		filepath.Join("examples", "ci", "render-env.sh"):                1,
		filepath.Join("docs", "deployment.md"):                          3,
		"README.md":                                                     10,
	}
	for file, want := range minimum {
		if got := len(found[file]); got < want {
			t.Errorf("%s: found %d secrets-sync command lines, want at least %d", file, got, want)
		}
	}
	for file, commands := range found {
		for _, c := range commands {
			if !isSecretsSyncBinary(c.argv[0]) {
				t.Errorf("%s: runs %q, want the secrets-sync binary", c.where, c.argv[0])
				continue
			}
			if strings.HasSuffix(file, ".yaml") && c.argv[0] != imageBinary {
				t.Errorf("%s: runs %q, but the image has the binary at %s", c.where, c.argv[0], imageBinary)
			}
			if _, err := checkCommandLine(cli, c.argv[1:]); err != nil {
				t.Errorf("%s: %q: %v", c.where, c.argv, err)
			}
		}
	}
}

func TestCheckCommandLineRejectsMistakes(t *testing.T) {
	cli := readCLI(t)
	cases := []struct {
		args []string
		ok   bool
	}{
		{args: []string{"sync", "--once", "--config", "/c.yaml"}, ok: true},
		{args: []string{"sync", "--once", "-c", "/c.yaml", "--timeout=1m"}, ok: true},
		{args: []string{"render", "--file", ".env"}, ok: true},
		{args: []string{"sync", "--no-such-flag"}},
		{args: []string{"sync", "--timeout"}},
		{args: []string{"no-such-command"}},
		{args: []string{"sync", "--once", "extra"}},
		{args: []string{"render", "--once"}},
	}
	for _, c := range cases {
		_, err := checkCommandLine(cli, c.args)
		if c.ok && err != nil {
			t.Errorf("%q: %v, want it accepted", c.args, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%q accepted, want an error", c.args)
		}
	}
}

func TestComposeExamplePatterns(t *testing.T) {
	cli := readCLI(t)
	cases := []struct {
		file      string
		command   string // what the secrets service runs
		condition string // what the app waits for
	}{
		{file: filepath.Join("examples", "compose", "init", "compose.yaml"), command: "sync", condition: "service_completed_successfully"},
		{file: filepath.Join("examples", "compose", "sidecar", "compose.yaml"), command: "watch", condition: "service_healthy"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			compose := readCompose(t, c.file)
			secrets, ok := compose.Services["secrets"]
			if !ok || !secrets.runsSecretsSync() {
				t.Fatalf("no secrets service running the secrets-sync image")
			}
			parsed, err := checkCommandLine(cli, secrets.argv(t)[1:])
			if err != nil {
				t.Fatal(err)
			}
			if parsed.command() != c.command {
				t.Errorf("secrets service runs %q, want %q", parsed.command(), c.command)
			}
			if c.command == "sync" && parsed.flags["once"] != "true" {
				t.Errorf("secrets service runs sync without --once, so it never exits")
			}
			app, ok := compose.Services["app"]
			if !ok {
				t.Fatal("no app service")
			}
			dep, _ := app.DependsOn["secrets"].(map[string]any)
			if dep["condition"] != c.condition {
				t.Errorf("app depends_on secrets with condition %v, want %s", dep["condition"], c.condition)
			}
			if c.condition == "service_healthy" {
				argv, err := secrets.healthcheckArgv()
				if err != nil {
					t.Fatal(err)
				}
				want := []string{imageBinary, "isready"}
				if !slices.Equal(argv, want) {
					t.Errorf("healthcheck runs %q, want %q", argv, want)
				}
			}
			if _, ok := compose.Services["vault"]; !ok {
				t.Errorf("no dev vault service")
			}
			volume, ok := compose.Volumes["secrets"]
			if !ok {
				t.Fatal("no secrets volume")
			}
			if volume.DriverOpts["type"] != "tmpfs" {
				t.Errorf("secrets volume type = %q, want tmpfs, so secret files stay in memory", volume.DriverOpts["type"])
			}
		})
	}
}

// composeSeed returns the secrets that a Compose example's seed step writes
// with "vault kv put MOUNT/PATH KEY=VALUE ...", by mount and path.
func composeSeed(t *testing.T, compose composeFile) map[string]map[string]any {
	t.Helper()
	seed := map[string]map[string]any{}
	put := regexp.MustCompile(`^\s*vault kv put (\S+)((?:\s+[^\s=]+=\S+)+)\s*$`)
	for _, s := range compose.Services {
		for _, word := range stringList(s.Command) {
			for _, line := range strings.Split(word, "\n") {
				m := put.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				data := map[string]any{}
				for _, pair := range strings.Fields(m[2]) {
					key, value, _ := strings.Cut(pair, "=")
					data[key] = value
				}
				seed[m[1]] = data
			}
		}
	}
	if len(seed) == 0 {
		t.Fatal("no seed step with vault kv put")
	}
	return seed
}

// tmpfsOptions reads uid, gid and mode from a tmpfs volume's "o" option.
func tmpfsOptions(t *testing.T, opts string) (uid, gid int, mode os.FileMode) {
	t.Helper()
	uid, gid, mode = 0, 0, 0o1777
	for _, opt := range strings.Split(opts, ",") {
		key, value, _ := strings.Cut(opt, "=")
		var err error
		switch key {
		case "uid":
			uid, err = strconv.Atoi(value)
		case "gid":
			gid, err = strconv.Atoi(value)
		case "mode":
			var m uint64
			m, err = strconv.ParseUint(value, 8, 32)
			mode = os.FileMode(m)
		}
		if err != nil {
			t.Fatalf("tmpfs option %q: %v", opt, err)
		}
	}
	return uid, gid, mode
}

// canRead reports whether a process with uid and gids has the permission
// bit (4 read, 1 search) on the file that info describes, judged by the
// mode bits alone.
func canRead(info fs.FileInfo, uid int, gids []int, bit fs.FileMode) bool {
	st := info.Sys().(*syscall.Stat_t)
	switch {
	case int(st.Uid) == uid:
		return info.Mode().Perm()&(bit<<6) != 0
	case slices.Contains(gids, int(st.Gid)):
		return info.Mode().Perm()&(bit<<3) != 0
	default:
		return info.Mode().Perm()&bit != 0
	}
}

// appIDs returns the uid and groups of a Compose service's user and
// group_add.
func appIDs(t *testing.T, s composeService) (int, []int) {
	t.Helper()
	uidText, gidText, _ := strings.Cut(s.User, ":")
	uid, err := strconv.Atoi(uidText)
	if err != nil {
		t.Fatalf("app user %q: want numeric UID:GID", s.User)
	}
	gid, err := strconv.Atoi(gidText)
	if err != nil {
		t.Fatalf("app user %q: want numeric UID:GID", s.User)
	}
	gids := []int{gid}
	for _, g := range s.GroupAdd {
		n, err := strconv.Atoi(fmt.Sprint(g))
		if err != nil {
			t.Fatalf("app group_add %v: want numeric groups", g)
		}
		gids = append(gids, n)
	}
	return uid, gids
}

// TestComposeExamplesInImageRoot runs each Compose example's secrets service
// as Compose would run it, minus Docker: the image's root folder, the
// service's command and environment, its config file mounted where the
// service mounts it, and the tmpfs volume's owner and mode. The secrets
// come from the example's seed step, written into the loopback dev server.
// Then the app's user must be able to read every file.
func TestComposeExamplesInImageRoot(t *testing.T) {
	requireRoot(t)
	s := vaulttest.Shared(t)
	for _, dir := range []string{"init", "sidecar"} {
		t.Run(dir, func(t *testing.T) {
			composePath := filepath.Join("examples", "compose", dir, "compose.yaml")
			compose := readCompose(t, composePath)
			seed := composeSeed(t, compose)
			for full, data := range seed {
				mount, p, _ := strings.Cut(full, "/")
				s.WriteKV2(t, mount, p, data)
			}
			secrets := compose.Services["secrets"]
			root := scratchRoot(t, hostCABundle(t))
			var configPath string
			for _, v := range secrets.Volumes {
				parts := strings.Split(v, ":")
				source, target := parts[0], parts[1]
				if strings.HasPrefix(source, ".") {
					// A bind mount of a file beside compose.yaml.
					data, err := os.ReadFile(filepath.Join(filepath.Dir(composePath), source))
					if err != nil {
						t.Fatal(err)
					}
					mustMkdir(t, filepath.Join(root, filepath.Dir(target)), 0o755)
					mustWrite(t, filepath.Join(root, target), data, 0o644)
					configPath = filepath.Join(filepath.Dir(composePath), source)
					continue
				}
				volume := compose.Volumes[source]
				uid, gid, mode := tmpfsOptions(t, volume.DriverOpts["o"])
				dirPath := filepath.Join(root, target)
				mustMkdir(t, dirPath, 0o755)
				if err := os.Chown(dirPath, uid, gid); err != nil {
					t.Fatal(err)
				}
				mustChmod(t, dirPath, mode)
			}
			if configPath == "" {
				t.Fatal("the secrets service mounts no config file")
			}

			env := []string{"HOME=/tmp"}
			for _, kv := range secrets.environment() {
				name, _, _ := strings.Cut(kv, "=")
				switch name {
				case "VAULT_ADDR":
					kv = "VAULT_ADDR=" + s.Addr
				case "VAULT_TOKEN":
					kv = "VAULT_TOKEN=" + s.RootToken
				}
				env = append(env, kv)
			}
			argv := secrets.argv(t)
			if argv[0] != imageBinary {
				t.Fatalf("secrets service runs %q, want %s", argv[0], imageBinary)
			}
			app := compose.Services["app"]
			dep, _ := app.DependsOn["secrets"].(map[string]any)
			switch dep["condition"] {
			case "service_completed_successfully":
				res := runInRoot(t, root, env, argv[1:]...)
				expectCode(t, res, 0)
			case "service_healthy":
				requireCommand(t, "watch")
				requireCommand(t, "isready")
				check, err := secrets.healthcheckArgv()
				if err != nil {
					t.Fatal(err)
				}
				watch := startInRoot(t, root, env, append(argv[1:], "--listen", freeLoopbackAddress(t))...)
				res := waitReady(t, 30*time.Second, watch, func() result { return runInRoot(t, root, env, check[1:]...) })
				if res.code != 0 {
					t.Fatalf("healthcheck %q exit code = %d after 30s, want 0\nstderr:\n%s\nwatch stderr:\n%s", check, res.code, res.stderr, watch.stderr.String())
				}
				defer func() {
					if code := watch.stop(t); code != 0 {
						t.Errorf("watch exit code after SIGTERM = %d, want 0", code)
					}
				}()
			default:
				t.Fatalf("app waits for secrets with condition %v", dep["condition"])
			}

			cfg, err := config.Load(configPath, config.Options{Lookup: mapLookup(map[string]string{"VAULT_ADDR": s.Addr, "VAULT_TOKEN": s.RootToken})})
			if err != nil {
				t.Fatal(err)
			}
			uid, gids := appIDs(t, app)
			for _, secret := range cfg.Secrets {
				for _, f := range secret.Files {
					p := filepath.Join(root, f.Dest)
					content := readFile(t, p)
					if content == "" || strings.Contains(content, "<no value>") {
						t.Errorf("%s = %q, want rendered content", f.Dest, content)
					}
					if f.Field != "" {
						key := path.Join(secret.Mount, secret.Path)
						if want := fmt.Sprint(seed[key][f.Field]); content != want {
							t.Errorf("%s = %q, want field %s of %s, %q", f.Dest, content, f.Field, key, want)
						}
					}
					info, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					if !canRead(info, uid, gids, 0o4) {
						t.Errorf("%s (mode %04o, gid %d) is not readable by the app's user %s and groups %v", f.Dest, info.Mode().Perm(), info.Sys().(*syscall.Stat_t).Gid, app.User, gids)
					}
					dirInfo, err := os.Stat(filepath.Dir(p))
					if err != nil {
						t.Fatal(err)
					}
					if !canRead(dirInfo, uid, gids, 0o1) {
						t.Errorf("%s is not searchable by the app's user %s", filepath.Dir(f.Dest), app.User)
					}
				}
			}
		})
	}
}

// mapLookup returns a config.LookupFunc over vars.
func mapLookup(vars map[string]string) config.LookupFunc {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// exampleConfig is a secrets-sync config found in an example, with the
// environment the example gives it.
type exampleConfig struct {
	name string
	file string // the file it came from
	data []byte
	env  map[string]string
	// mounted lists folders that the deployment mounts (Kubernetes Secret
	// volumes), whose files cannot exist on this machine.
	mounted []string
}

// exampleConfigs returns every secrets-sync config of the examples: the
// config.yaml files, with the environment of the service or unit that uses
// them, and the config in the Kubernetes ConfigMap.
func exampleConfigs(t *testing.T) []exampleConfig {
	t.Helper()
	var configs []exampleConfig
	for _, dir := range []string{"init", "sidecar"} {
		composePath := filepath.Join("examples", "compose", dir, "compose.yaml")
		env := map[string]string{}
		for _, kv := range readCompose(t, composePath).Services["secrets"].environment() {
			name, value, _ := strings.Cut(kv, "=")
			env[name] = value
		}
		file := filepath.Join("examples", "compose", dir, "config.yaml")
		configs = append(configs, exampleConfig{name: file, file: file, data: []byte(readFile(t, file)), env: env})
	}

	credentials := t.TempDir()
	mustWrite(t, filepath.Join(credentials, "vault-token"), []byte("example-token\n"), 0o600)
	systemdEnv := map[string]string{"CREDENTIALS_DIRECTORY": credentials}
	for _, line := range strings.Split(readFile(t, filepath.Join("examples", "systemd", "secrets-sync.service")), "\n") {
		if value, ok := strings.CutPrefix(line, "Environment="); ok {
			name, v, _ := strings.Cut(value, "=")
			systemdEnv[name] = v
		}
	}
	file := filepath.Join("examples", "systemd", "config.yaml")
	configs = append(configs, exampleConfig{name: file, file: file, data: []byte(readFile(t, file)), env: systemdEnv})

	// The CI job sets these three variables (github-actions.yaml, gitlab-ci.yml).
	file = filepath.Join("examples", "ci", "config.yaml")
	configs = append(configs, exampleConfig{name: file, file: file, data: []byte(readFile(t, file)), env: map[string]string{
		"VAULT_ADDR": "https://vault.example.com:8200", "VAULT_ROLE_ID": "role", "VAULT_SECRET_ID": "secret",
	}})

	file = filepath.Join("examples", "kubernetes", "deployment.yaml")
	for _, doc := range readYAMLDocuments(t, file) {
		if doc["kind"] != "ConfigMap" {
			continue
		}
		data, _ := doc["data"].(map[string]any)
		text, ok := data["config.yaml"].(string)
		if !ok {
			t.Fatalf("%s: the ConfigMap has no config.yaml", file)
		}
		env, mounted := k8sConfigEnv(t, file)
		configs = append(configs, exampleConfig{name: file + " ConfigMap", file: file, data: []byte(text), env: env, mounted: mounted})
	}
	return configs
}

// k8sConfigEnv returns the environment of the secrets-sync containers in
// a Kubernetes example and the mount paths of their Secret volumes.
func k8sConfigEnv(t *testing.T, file string) (map[string]string, []string) {
	t.Helper()
	env := map[string]string{}
	var mounted []string
	for _, doc := range readYAMLDocuments(t, file) {
		podSpec := k8sPodSpec(doc)
		secretVolumes := map[string]bool{}
		volumes, _ := podSpec["volumes"].([]any)
		for _, v := range volumes {
			volume, _ := v.(map[string]any)
			if volume["secret"] != nil {
				secretVolumes[fmt.Sprint(volume["name"])] = true
			}
		}
		for _, c := range k8sContainers(podSpec) {
			if !strings.Contains(fmt.Sprint(c["image"]), "secrets-sync") {
				continue
			}
			list, _ := c["env"].([]any)
			for _, item := range list {
				e, _ := item.(map[string]any)
				env[fmt.Sprint(e["name"])] = fmt.Sprint(e["value"])
			}
			mounts, _ := c["volumeMounts"].([]any)
			for _, item := range mounts {
				m, _ := item.(map[string]any)
				if secretVolumes[fmt.Sprint(m["name"])] {
					mounted = append(mounted, fmt.Sprint(m["mountPath"]))
				}
			}
		}
	}
	return env, mounted
}

func TestExampleConfigsLoad(t *testing.T) {
	configs := exampleConfigs(t)
	if len(configs) < 5 {
		t.Fatalf("found %d example configs, want 5", len(configs))
	}
	unreadable := regexp.MustCompile(`^cannot read (/\S+)`)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			cfg, problems := config.Parse(c.name, c.data, config.Options{Lookup: mapLookup(c.env), WorkDir: t.TempDir(), HomeDir: home})
			for _, p := range problems.Errors() {
				// A credential file on a Kubernetes Secret volume exists only
				// in the pod.
				if m := unreadable.FindStringSubmatch(p.Message); m != nil && underAny(m[1], c.mounted) {
					t.Logf("%s: %s (the file is on a Secret volume in the pod)", c.name, p.Message)
					continue
				}
				t.Errorf("%v", p)
			}
			for _, w := range problems.Warnings() {
				t.Logf("%v", w)
			}
			if len(cfg.Secrets) == 0 {
				t.Errorf("%s: no secrets", c.name)
			}
		})
	}
}

func underAny(p string, dirs []string) bool {
	for _, dir := range dirs {
		if strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}

func TestKubernetesExampleLayout(t *testing.T) {
	cli := readCLI(t)
	file := filepath.Join("examples", "kubernetes", "deployment.yaml")
	var podSpec map[string]any
	for _, doc := range readYAMLDocuments(t, file) {
		if spec := k8sPodSpec(doc); spec != nil {
			podSpec = spec
		}
	}
	if podSpec == nil {
		t.Fatal("no workload with a pod spec")
	}
	security, _ := podSpec["securityContext"].(map[string]any)
	if security["fsGroup"] == nil {
		t.Errorf("the pod sets no fsGroup, so the app cannot share the files' group")
	}
	memoryVolumes := map[string]bool{}
	volumes, _ := podSpec["volumes"].([]any)
	for _, v := range volumes {
		volume, _ := v.(map[string]any)
		emptyDir, _ := volume["emptyDir"].(map[string]any)
		if emptyDir["medium"] == "Memory" {
			memoryVolumes[fmt.Sprint(volume["name"])] = true
		}
	}

	var commands []string
	for _, c := range k8sContainers(podSpec) {
		if !strings.Contains(fmt.Sprint(c["image"]), "secrets-sync") {
			continue
		}
		name := fmt.Sprint(c["name"])
		parsed, err := checkCommandLine(cli, k8sArgv(t, c)[1:])
		if err != nil {
			t.Errorf("container %s: %v", name, err)
			continue
		}
		commands = append(commands, parsed.command())
		sc, _ := c["securityContext"].(map[string]any)
		if sc["readOnlyRootFilesystem"] != true {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", name)
		}
		mountVolume := map[string]string{} // mount path to volume name
		mounts, _ := c["volumeMounts"].([]any)
		for _, item := range mounts {
			m, _ := item.(map[string]any)
			mountVolume[fmt.Sprint(m["mountPath"])] = fmt.Sprint(m["name"])
		}
		if !memoryVolumes[mountVolume["/secrets"]] {
			t.Errorf("container %s: /secrets is not a memory-backed emptyDir", name)
		}
		if parsed.command() != "watch" {
			continue
		}
		// The root file system is read-only, so the status file must be on
		// a volume, and the readiness probe must read the same file.
		statusFile := parsed.flags["status-file"]
		if statusFile == "" || !memoryVolumes[mountVolume[path.Dir(statusFile)]] {
			t.Errorf("container %s: --status-file %q is not on a mounted emptyDir", name, statusFile)
		}
		probe, _ := c["readinessProbe"].(map[string]any)
		action, _ := probe["exec"].(map[string]any)
		argv := stringList(action["command"])
		if len(argv) == 0 {
			t.Fatalf("container %s: no exec readinessProbe", name)
		}
		check, err := checkCommandLine(cli, argv[1:])
		if err != nil {
			t.Fatalf("container %s readinessProbe: %v", name, err)
		}
		if check.command() != "isready" || check.flags["status-file"] != statusFile {
			t.Errorf("container %s: readinessProbe runs %q with --status-file %q, want isready with %q", name, check.command(), check.flags["status-file"], statusFile)
		}
	}
	slices.Sort(commands)
	if want := []string{"sync", "watch"}; !slices.Equal(commands, want) {
		t.Errorf("secrets-sync containers run %q, want an init container with sync and a sidecar with watch", commands)
	}
}

// TestKubernetesExampleInImageRoot runs the example pod's secrets-sync
// containers as the kubelet would, minus Kubernetes. One image root folder
// has every volume at its mount path. The emptyDirs belong to the fsGroup and
// have the set-group-ID bit, as kubelet's SetVolumeOwnership leaves them
// (pkg/volume/volume_linux.go). The ConfigMap and Secret files are written
// in, and nothing else is writable. The processes run in the fsGroup: the
// init containers to completion, then the sidecar until its readiness probe
// passes. The app's user must then be able to read every file.
func TestKubernetesExampleInImageRoot(t *testing.T) {
	requireRoot(t)
	requireCommand(t, "watch")
	requireCommand(t, "isready")
	s := vaulttest.Shared(t)
	file := filepath.Join("examples", "kubernetes", "deployment.yaml")
	var podSpec map[string]any
	configMaps := map[string]map[string]any{}
	for _, doc := range readYAMLDocuments(t, file) {
		if doc["kind"] == "ConfigMap" {
			metadata, _ := doc["metadata"].(map[string]any)
			data, _ := doc["data"].(map[string]any)
			configMaps[fmt.Sprint(metadata["name"])] = data
		}
		if spec := k8sPodSpec(doc); spec != nil {
			podSpec = spec
		}
	}
	if podSpec == nil {
		t.Fatal("no workload with a pod spec")
	}
	podSecurity, _ := podSpec["securityContext"].(map[string]any)
	if podSecurity["runAsUser"] != imageUID || podSecurity["runAsGroup"] != imageGID {
		t.Fatalf("the pod runs as %v:%v; this test runs secrets-sync as %d:%d", podSecurity["runAsUser"], podSecurity["runAsGroup"], imageUID, imageGID)
	}
	fsGroup, ok := podSecurity["fsGroup"].(int)
	if !ok {
		t.Fatalf("fsGroup = %v, want a number", podSecurity["fsGroup"])
	}

	// Seed every field that the config's files read, and an AppRole that
	// may read exactly those secrets.
	configText, _ := configMaps["secrets-sync-config"]["config.yaml"].(string)
	// The credential files exist only in the pod, so the config is read
	// here with stand-ins for them.
	credentials := t.TempDir()
	for _, name := range []string{"role-id", "secret-id"} {
		mustWrite(t, filepath.Join(credentials, name), []byte("placeholder"), 0o600)
	}
	cfg, problems := config.Parse("config.yaml", []byte(strings.ReplaceAll(configText, "/vault/approle/", credentials+"/")),
		config.Options{Lookup: mapLookup(map[string]string{"VAULT_ADDR": s.Addr})})
	if errs := problems.Errors(); len(errs) > 0 {
		t.Fatalf("the ConfigMap's config: %v", errs)
	}
	var policy strings.Builder
	seeded := map[string]map[string]any{}
	for _, secret := range cfg.Secrets {
		data := map[string]any{}
		for _, f := range secret.Files {
			fields := []string{f.Field}
			if f.Tmpl != nil {
				fields = f.Tmpl.Fields()
			}
			for _, field := range fields {
				data[field] = "k8s-" + field
			}
		}
		s.WriteKV2(t, secret.Mount, secret.Path, data)
		seeded[secret.Name] = data
		fmt.Fprintf(&policy, "path %q { capabilities = [\"read\"] }\n", secret.Mount+"/data/"+secret.Path)
	}
	s.WritePolicy(t, "k8s-example-read", policy.String())
	roleID, secretID := s.EnableAppRole(t, "k8s-example", []string{"k8s-example-read"})
	secretValues := map[string]string{"role-id": roleID, "secret-id": secretID}

	root := scratchRoot(t, hostCABundle(t))
	// readOnlyRootFilesystem: not even /tmp is writable.
	mustChmod(t, filepath.Join(root, "tmp"), 0o755)
	mountPaths := map[string]string{} // volume name to its one mount path
	var secretsSync []map[string]any
	for _, c := range k8sContainers(podSpec) {
		mounts, _ := c["volumeMounts"].([]any)
		for _, item := range mounts {
			m, _ := item.(map[string]any)
			name, mountPath := fmt.Sprint(m["name"]), fmt.Sprint(m["mountPath"])
			if old, ok := mountPaths[name]; ok && old != mountPath {
				t.Fatalf("volume %s is mounted at %s and %s; this test gives every container one root folder", name, old, mountPath)
			}
			mountPaths[name] = mountPath
		}
		if strings.Contains(fmt.Sprint(c["image"]), "secrets-sync") {
			secretsSync = append(secretsSync, c)
		}
	}
	volumes, _ := podSpec["volumes"].([]any)
	for _, item := range volumes {
		volume, _ := item.(map[string]any)
		name := fmt.Sprint(volume["name"])
		dir := filepath.Join(root, mountPaths[name])
		mustMkdir(t, dir, 0o755)
		switch {
		case volume["emptyDir"] != nil:
			if err := os.Chown(dir, 0, fsGroup); err != nil {
				t.Fatal(err)
			}
			mustChmod(t, dir, os.ModeSetgid|0o777)
		case volume["configMap"] != nil:
			ref, _ := volume["configMap"].(map[string]any)
			for key, value := range configMaps[fmt.Sprint(ref["name"])] {
				mustWrite(t, filepath.Join(dir, key), []byte(fmt.Sprint(value)), 0o644)
			}
		case volume["secret"] != nil:
			for key, value := range secretValues {
				p := filepath.Join(dir, key)
				// defaultMode 0400, plus the group read bit that
				// SetVolumeOwnership adds for the fsGroup.
				mustWrite(t, p, []byte(value), 0o440)
				if err := os.Chown(p, 0, fsGroup); err != nil {
					t.Fatal(err)
				}
			}
		default:
			t.Fatalf("volume %s: this test knows emptyDir, configMap and secret volumes", name)
		}
	}

	groups := []uint32{uint32(fsGroup)}
	containerEnv := func(c map[string]any) []string {
		env := []string{"HOME=/tmp"}
		list, _ := c["env"].([]any)
		for _, item := range list {
			e, _ := item.(map[string]any)
			value := fmt.Sprint(e["value"])
			if e["name"] == "VAULT_ADDR" {
				value = s.Addr
			}
			env = append(env, fmt.Sprintf("%v=%s", e["name"], value))
		}
		return env
	}
	initContainers, _ := podSpec["initContainers"].([]any)
	var sidecars []map[string]any
	for _, c := range secretsSync {
		if !slices.ContainsFunc(initContainers, func(item any) bool { return fmt.Sprint(item.(map[string]any)["name"]) == fmt.Sprint(c["name"]) }) {
			sidecars = append(sidecars, c)
			continue
		}
		res := runInRootAs(t, root, groups, containerEnv(c), k8sArgv(t, c)[1:]...)
		expectCode(t, res, 0)
		if strings.Contains(res.stderr, "status file not written") {
			t.Errorf("init container %v warns about its status file:\n%s", c["name"], res.stderr)
		}
	}
	if len(sidecars) == 0 {
		t.Fatal("no secrets-sync sidecar")
	}
	for _, c := range sidecars {
		probe, _ := c["readinessProbe"].(map[string]any)
		action, _ := probe["exec"].(map[string]any)
		check := stringList(action["command"])
		if len(check) < 2 {
			t.Fatalf("sidecar %v has no exec readinessProbe", c["name"])
		}
		env := containerEnv(c)
		watch := startInRootAs(t, root, groups, env, append(k8sArgv(t, c)[1:], "--listen", freeLoopbackAddress(t))...)
		res := waitReady(t, 30*time.Second, watch, func() result { return runInRootAs(t, root, groups, env, check[1:]...) })
		if res.code != 0 {
			t.Fatalf("readinessProbe %q exit code = %d after 30s, want 0\nstderr:\n%s\nwatch stderr:\n%s", check, res.code, res.stderr, watch.stderr.String())
		}
		defer func() {
			if code := watch.stop(t); code != 0 {
				t.Errorf("sidecar exit code after SIGTERM = %d, want 0", code)
			}
		}()
	}

	// The app container runs as its own user, in the fsGroup.
	var app map[string]any
	for _, c := range k8sContainers(podSpec) {
		if !strings.Contains(fmt.Sprint(c["image"]), "secrets-sync") {
			app = c
		}
	}
	appSecurity, _ := app["securityContext"].(map[string]any)
	appUID, _ := appSecurity["runAsUser"].(int)
	appGID, _ := appSecurity["runAsGroup"].(int)
	appGroups := []int{appGID, fsGroup}
	for _, secret := range cfg.Secrets {
		for _, f := range secret.Files {
			p := filepath.Join(root, f.Dest)
			content := readFile(t, p)
			if f.Field != "" && content != fmt.Sprint(seeded[secret.Name][f.Field]) {
				t.Errorf("%s = %q, want %q", f.Dest, content, seeded[secret.Name][f.Field])
			}
			if f.Tmpl != nil && (content == "" || strings.Contains(content, "<no value>")) {
				t.Errorf("%s = %q, want rendered content", f.Dest, content)
			}
			info, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !canRead(info, appUID, appGroups, 0o4) {
				t.Errorf("%s (mode %04o, gid %d) is not readable by the app's user %d in groups %v", f.Dest, info.Mode().Perm(), info.Sys().(*syscall.Stat_t).Gid, appUID, appGroups)
			}
		}
	}
}

func TestCIExampleRendersDotenv(t *testing.T) {
	s := vaulttest.Shared(t)
	s.WriteKV2(t, "secret", "ci/app", map[string]any{"username": "ci-user", "password": "ci-pw", "apiKey": "ci-key"})
	s.WritePolicy(t, "ci-read", `path "secret/data/ci/*" { capabilities = ["read"] }`)
	roleID, secretID := s.EnableAppRole(t, "ci-example", []string{"ci-read"})
	script, err := filepath.Abs(filepath.Join("examples", "ci", "render-env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + filepath.Dir(binary(t)) + ":/usr/bin:/bin",
		"VAULT_ADDR=" + s.Addr,
		"VAULT_ROLE_ID=" + roleID,
	}
	runScript := func(t *testing.T, dir, secretID string) result {
		t.Helper()
		c := exec.Command("bash", script)
		c.Dir = dir
		c.Env = append(slices.Clone(env), "HOME="+dir, "VAULT_SECRET_ID="+secretID)
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		res := result{stdout: stdout.String(), stderr: stderr.String()}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			res.code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("renders .env", func(t *testing.T) {
		dir := t.TempDir()
		res := runScript(t, dir, secretID)
		expectCode(t, res, 0)
		want := "DB_USER=ci-user\nDB_PASSWORD=ci-pw\nAPI_KEY=ci-key\n"
		if got := readFile(t, filepath.Join(dir, ".env")); got != want {
			t.Errorf(".env = %q, want %q", got, want)
		}
		if got := fileMode(t, filepath.Join(dir, ".env")); got != 0o600 {
			t.Errorf(".env mode = %04o, want 0600", got)
		}
		assertOnlyFiles(t, dir, ".env")
	})
	t.Run("failure keeps old .env", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, ".env"), []byte("OLD=1\n"), 0o600)
		res := runScript(t, dir, "not-the-secret-id")
		if res.code == 0 {
			t.Fatalf("exit code 0 with a wrong secret id\nstderr:\n%s", res.stderr)
		}
		if got := readFile(t, filepath.Join(dir, ".env")); got != "OLD=1\n" {
			t.Errorf(".env = %q after a failed render, want the old content", got)
		}
		assertOnlyFiles(t, dir, ".env")
	})
}

// assertOnlyFiles fails the test when dir holds other files than names,
// such as a temporary file left behind.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(names, e.Name()) {
			t.Errorf("%s holds %s, want only %v", dir, e.Name(), names)
		}
	}
}

// dockerInstruction is one instruction of a Dockerfile, with continuation
// lines joined.
type dockerInstruction struct {
	line int
	name string // upper case, such as RUN
	args string
}

type dockerStage struct {
	from         string // the image or stage it starts from
	name         string // the AS name, or ""
	instructions []dockerInstruction
}

type dockerfile struct {
	args   map[string]string // ARGs before the first FROM, with their defaults
	stages []dockerStage
}

func (d dockerfile) final() dockerStage { return d.stages[len(d.stages)-1] }

func (d dockerfile) stage(name string) (dockerStage, bool) {
	for _, s := range d.stages {
		if s.name == name {
			return s, true
		}
	}
	return dockerStage{}, false
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	d := dockerfile{args: map[string]string{}}
	scanner := bufio.NewScanner(strings.NewReader(readFile(t, "Dockerfile")))
	var pending strings.Builder
	start := 0
	for n := 1; scanner.Scan(); n++ {
		line := scanner.Text()
		trimmed := strings.TrimSpace(line)
		if pending.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if pending.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			pending.WriteString(strings.TrimSuffix(line, "\\"))
			pending.WriteString(" ")
			continue
		}
		pending.WriteString(line)
		text := strings.TrimSpace(pending.String())
		pending.Reset()
		name, args, _ := strings.Cut(text, " ")
		inst := dockerInstruction{line: start, name: strings.ToUpper(name), args: strings.TrimSpace(args)}
		switch {
		case inst.name == "FROM":
			words := strings.Fields(inst.args)
			words = slices.DeleteFunc(words, func(w string) bool { return strings.HasPrefix(w, "--") })
			stage := dockerStage{from: words[0]}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				stage.name = words[2]
			}
			d.stages = append(d.stages, stage)
		case inst.name == "ARG" && len(d.stages) == 0:
			argName, value, _ := strings.Cut(inst.args, "=")
			d.args[argName] = value
		case len(d.stages) > 0:
			d.stages[len(d.stages)-1].instructions = append(d.stages[len(d.stages)-1].instructions, inst)
		}
	}
	if len(d.stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	return d
}

// execForm returns the JSON array of an exec-form CMD, ENTRYPOINT or
// HEALTHCHECK CMD.
func execForm(t *testing.T, inst dockerInstruction) []string {
	t.Helper()
	args := inst.args
	if inst.name == "HEALTHCHECK" {
		_, args, _ = strings.Cut(args, " CMD ")
	}
	var list []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(args)), &list); err != nil {
		t.Fatalf("Dockerfile line %d: %s %s is not in exec form (a JSON array), which the image needs because it has no shell: %v", inst.line, inst.name, inst.args, err)
	}
	return list
}

func TestDockerfileStages(t *testing.T) {
	d := readDockerfile(t)
	cli := readCLI(t)
	final := d.final()
	if final.from != "scratch" {
		t.Errorf("final stage is FROM %s, want scratch", final.from)
	}
	found := map[string][]string{}
	for _, inst := range final.instructions {
		switch inst.name {
		case "USER":
			uid, gid, _ := strings.Cut(inst.args, ":")
			// A name needs /etc/passwd, which a scratch image lacks.
			n, err := strconv.Atoi(uid)
			if err != nil || n == 0 {
				t.Errorf("USER %s: want a numeric non-root uid", inst.args)
			}
			if _, err := strconv.Atoi(gid); gid != "" && err != nil {
				t.Errorf("USER %s: want a numeric gid", inst.args)
			}
			if n != imageUID {
				t.Errorf("USER uid = %d, but the tests run the binary as %d", n, imageUID)
			}
			found["USER"] = []string{inst.args}
		case "ENTRYPOINT", "CMD", "HEALTHCHECK":
			found[inst.name] = execForm(t, inst)
		case "COPY":
			found["COPY"] = append(found["COPY"], inst.args)
		}
	}
	if found["USER"] == nil {
		t.Errorf("final stage sets no USER, so the image runs as root")
	}
	if got := found["ENTRYPOINT"]; !slices.Equal(got, []string{imageBinary}) {
		t.Errorf("ENTRYPOINT = %q, want [%q]", got, imageBinary)
	}
	if cmd := found["CMD"]; cmd == nil {
		t.Errorf("final stage has no CMD")
	} else if _, err := checkCommandLine(cli, cmd); err != nil {
		t.Errorf("CMD %q: %v", cmd, err)
	}
	if check := found["HEALTHCHECK"]; len(check) < 2 || check[0] != imageBinary {
		t.Errorf("HEALTHCHECK runs %q, want %s isready", check, imageBinary)
	} else if parsed, err := checkCommandLine(cli, check[1:]); err != nil {
		t.Errorf("HEALTHCHECK %q: %v", check, err)
	} else if parsed.command() != "isready" {
		t.Errorf("HEALTHCHECK runs %q, want isready", parsed.command())
	}

	// Where the final stage's files come from: the stage it copies from,
	// which BINARY_SOURCE selects.
	if len(found["COPY"]) == 0 {
		t.Fatal("final stage copies nothing")
	}
	build, ok := d.stage("build")
	if !ok {
		t.Fatal("no stage named build")
	}
	var run strings.Builder
	for _, inst := range build.instructions {
		if inst.name == "RUN" {
			run.WriteString(inst.args + "\n")
		}
	}
	buildText := run.String()
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "-s -w", imageCA, "chmod 1777"} {
		if !strings.Contains(buildText, want) {
			t.Errorf("build stage's RUN lacks %q", want)
		}
	}
	for _, name := range versionVariables(t) {
		if want := "-X " + versionPackage + "." + name + "="; !strings.Contains(buildText, want) {
			t.Errorf("build stage's ldflags lack %q", want)
		}
	}
	if !strings.Contains(buildText, "-o /rootfs"+imageBinary) {
		t.Errorf("build stage does not write the binary to /rootfs%s", imageBinary)
	}
	if !strings.HasPrefix(build.from, "golang:") {
		t.Errorf("build stage is FROM %s, want a golang image", build.from)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, "go.mod"))
	if goVersion == nil {
		t.Fatal("go.mod has no go line")
	}
	if got := d.args["GO_VERSION"]; got != goVersion[1] {
		t.Errorf("ARG GO_VERSION=%s, want go.mod's %s", got, goVersion[1])
	}
	source := d.args["BINARY_SOURCE"]
	if _, ok := d.stage(source); !ok {
		t.Errorf("ARG BINARY_SOURCE=%s names no stage", source)
	}
	if prebuilt, ok := d.stage("prebuilt"); !ok {
		t.Errorf("no stage named prebuilt for GoReleaser's build context")
	} else if !slices.ContainsFunc(prebuilt.instructions, func(i dockerInstruction) bool {
		return i.name == "COPY" && strings.Contains(i.args, "${TARGETPLATFORM}/secrets-sync /rootfs"+imageBinary)
	}) {
		t.Errorf("prebuilt stage does not copy ${TARGETPLATFORM}/secrets-sync to /rootfs%s", imageBinary)
	}
}

func TestDockerignoreLetsInBinarySources(t *testing.T) {
	var allowed []string
	denyAll := false
	for _, line := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "*":
			denyAll = true
		case strings.HasPrefix(line, "!"):
			allowed = append(allowed, strings.TrimSuffix(strings.TrimPrefix(line, "!"), "/"))
		default:
			t.Fatalf(".dockerignore line %q: this test reads only \"*\" and \"!PATH\" lines", line)
		}
	}
	if !denyAll {
		t.Fatal(".dockerignore does not start from \"*\", so .git and .work enter the build context")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum", "main.go"}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(wd, dir)
		if err != nil {
			t.Fatal(err)
		}
		if rel != "." {
			needed = append(needed, strings.Split(filepath.ToSlash(rel), "/")[0])
		}
	}
	for _, p := range needed {
		if !slices.Contains(allowed, p) {
			t.Errorf(".dockerignore keeps %s out of the build context, but the binary needs it", p)
		}
	}
}

func TestGoreleaserConfig(t *testing.T) {
	var cfg struct {
		Version int `yaml:"version"`
		Before  struct {
			Hooks []string `yaml:"hooks"`
		} `yaml:"before"`
		Builds []struct {
			ID      string   `yaml:"id"`
			Env     []string `yaml:"env"`
			Flags   []string `yaml:"flags"`
			Ldflags []string `yaml:"ldflags"`
			Goos    []string `yaml:"goos"`
			Goarch  []string `yaml:"goarch"`
		} `yaml:"builds"`
		Archives []struct {
			IDs     []string `yaml:"ids"`
			Formats []string `yaml:"formats"`
		} `yaml:"archives"`
		Checksum struct {
			NameTemplate string `yaml:"name_template"`
		} `yaml:"checksum"`
		Dockers []struct {
			IDs        []string          `yaml:"ids"`
			Dockerfile string            `yaml:"dockerfile"`
			Images     []string          `yaml:"images"`
			Platforms  []string          `yaml:"platforms"`
			BuildArgs  map[string]string `yaml:"build_args"`
		} `yaml:"dockers_v2"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, ".goreleaser.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}

	if cfg.Version != 2 {
		t.Errorf("version = %d, want 2", cfg.Version)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf("%d builds, want 1", len(cfg.Builds))
	}

	build := cfg.Builds[0]
	for _, goos := range []string{"linux", "darwin"} {
		if !slices.Contains(build.Goos, goos) {
			t.Errorf("goos %v lacks %s", build.Goos, goos)
		}
	}
	for _, goarch := range []string{"amd64", "arm64"} {
		if !slices.Contains(build.Goarch, goarch) {
			t.Errorf("goarch %v lacks %s", build.Goarch, goarch)
		}
	}
	if !slices.Contains(build.Env, "CGO_ENABLED=0") {
		t.Errorf("env %v lacks CGO_ENABLED=0", build.Env)
	}
	if !slices.Contains(build.Flags, "-trimpath") {
		t.Errorf("flags %v lack -trimpath", build.Flags)
	}

	ldflags := strings.Join(build.Ldflags, " ")
	for _, name := range versionVariables(t) {
		if want := "-X " + versionPackage + "." + name + "="; !strings.Contains(ldflags, want) {
			t.Errorf("ldflags %q lack %q", ldflags, want)
		}
	}

	if len(cfg.Archives) == 0 || !slices.Contains(cfg.Archives[0].IDs, build.ID) || len(cfg.Archives[0].Formats) == 0 {
		t.Errorf("archives = %+v, want one for build %q with formats", cfg.Archives, build.ID)
	}
	if cfg.Checksum.NameTemplate == "" {
		t.Errorf("no checksum section")
	}

	if len(cfg.Dockers) != 1 {
		t.Fatalf("%d dockers_v2 entries, want 1", len(cfg.Dockers))
	}
	image := cfg.Dockers[0]
	if image.Dockerfile != "Dockerfile" {
		t.Errorf("dockers_v2 dockerfile = %q, want Dockerfile", image.Dockerfile)
	}
	if _, err := os.Stat(image.Dockerfile); err != nil {
		t.Errorf("dockers_v2 dockerfile: %v", err)
	}
	if !slices.Contains(image.IDs, build.ID) || len(image.Images) == 0 {
		t.Errorf("dockers_v2 ids %v and images %v, want build %q and an image name", image.IDs, image.Images, build.ID)
	}

	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(image.Platforms, platform) {
			t.Errorf("dockers_v2 platforms %v lack %s", image.Platforms, platform)
		}
	}

	// GoReleaser's build context has the binaries and no source, so the
	// Dockerfile must take the stage that copies them.
	if _, ok := readDockerfile(t).stage(image.BuildArgs["BINARY_SOURCE"]); !ok || image.BuildArgs["BINARY_SOURCE"] != "prebuilt" {
		t.Errorf("dockers_v2 build_args BINARY_SOURCE = %q, want the Dockerfile's prebuilt stage", image.BuildArgs["BINARY_SOURCE"])
	}

	for _, hook := range cfg.Before.Hooks {
		words := strings.Fields(hook)
		if len(words) >= 2 && words[0] == "bash" {
			if _, err := os.Stat(words[1]); err != nil {
				t.Errorf("before hook %q: %v", hook, err)
			}
		}
	}
}

func TestVersionFlagMatchesVersionCommand(t *testing.T) {
	dir := t.TempDir()
	version := run(t, dir, nil, "version")
	expectCode(t, version, 0)
	if !strings.HasPrefix(version.stdout, "secrets-sync ") {
		t.Errorf("version = %q, want it to start with \"secrets-sync \"", version.stdout)
	}
	for _, flag := range []string{"--version", "-v"} {
		res := run(t, dir, nil, flag)
		expectCode(t, res, 0)
		if res.stdout != version.stdout {
			t.Errorf("%s = %q, want the version command's %q", flag, res.stdout, version.stdout)
		}
	}
}

func TestVersionFromGitCheckout(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout with a commit (git rev-parse HEAD: %v), so go build stamps no commit", err)
	}
	bin := filepath.Join(t.TempDir(), "secrets-sync")
	// No -ldflags: the commit must come from the build information that
	// -buildvcs records.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "(commit " + strings.TrimSpace(string(head)); !strings.Contains(string(out), want) {
		t.Errorf("version = %q, want it to contain %q", out, want)
	}
	if strings.Contains(string(out), "built unknown") {
		t.Errorf("version = %q, want the commit time as the build date", out)
	}
}

func TestCompletionBash(t *testing.T) {
	res := run(t, t.TempDir(), nil, "completion", "bash")
	expectCode(t, res, 0)
	if !strings.Contains(res.stdout, "complete -o default -F __start_secrets-sync secrets-sync") {
		t.Errorf("completion bash does not register a completion function for secrets-sync:\n%.400s", res.stdout)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to check the script's syntax")
	}
	check := exec.Command(bash, "-n")
	check.Stdin = strings.NewReader(res.stdout)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("bash -n on the completion script: %v\n%s", err, out)
	}
}

func TestManPages(t *testing.T) {
	out := t.TempDir()
	gen := exec.Command("bash", filepath.Join("scripts", "man.sh"), out)
	gen.Env = append(os.Environ(), "VERSION=test", "SOURCE_DATE_EPOCH=1767225600")
	if msg, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("scripts/man.sh: %v\n%s", err, msg)
	}
	var pages []string
	var walk func(c *cliCommand)
	walk = func(c *cliCommand) {
		pages = append(pages, strings.Join(append([]string{"secrets-sync"}, c.path...), "-")+".1")
		for _, sub := range c.commands {
			walk(sub)
		}
	}
	walk(readCLI(t))
	for _, page := range pages {
		text := readFile(t, filepath.Join(out, page))
		if !strings.HasPrefix(text, ".nh\n.TH ") && !strings.HasPrefix(text, ".TH ") {
			t.Errorf("%s does not start with a .TH header:\n%.200s", page, text)
		}
		if !strings.Contains(text, `"secrets-sync test"`) || !strings.Contains(text, `"Jan 2026"`) {
			t.Errorf("%s header lacks the VERSION and SOURCE_DATE_EPOCH date:\n%.200s", page, text)
		}
	}

	// The generator's packages stay out of the binary.
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range []string{"github.com/spf13/cobra/doc", "github.com/cpuguy83/go-md2man/v2/md2man"} {
		if slices.Contains(strings.Fields(string(deps)), pkg) {
			t.Errorf("the secrets-sync binary imports %s", pkg)
		}
	}
}

func mustMkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func mustChmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	mustChmod(t, p, mode)
}
