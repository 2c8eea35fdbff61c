package main_test

// Tests of scripts/cached-build.sh, which builds and caches the Vault dev
// server and consul-template for the tests and the benchmark. Each test
// builds a tiny program from a tools module that replaces its one
// requirement with a local folder, so no module is downloaded.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// toolsModule writes a tools module in a new folder that requires
// example.com/tool v1.2.3 from a local folder, whose program prints
// "tool 1.2.3" for --version and runs main with body. It returns the
// module's folder.
func toolsModule(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":      "module example.com/tools\n\ngo 1.22\n\nrequire example.com/tool v1.2.3\n\nreplace example.com/tool => ./tool\n",
		"go.sum":      "",
		"tool/go.mod": "module example.com/tool\n\ngo 1.22\n",
		"tool/main.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n" +
			"\tif len(os.Args) > 1 && os.Args[1] == \"--version\" {\n\t\tfmt.Println(\"tool 1.2.3\")\n\t}\n" + body + "}\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cachedBuild runs scripts/cached-build.sh for the tools module in
// moduleDir with cache as its cache folder. It returns standard output
// and standard error, and fails the test only when the script cannot
// start.
func cachedBuild(t *testing.T, moduleDir, cache string) (stdout, stderr string, err error) {
	t.Helper()
	command := exec.Command("bash", "scripts/cached-build.sh", "tool-build", moduleDir, "example.com/tool", "tool", "--version")
	command.Env = append(os.Environ(), "SECRETS_SYNC_CACHE="+cache)
	var out, errOut strings.Builder
	command.Stdout, command.Stderr = &out, &errOut
	err = command.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("cannot run cached-build.sh: %v", err)
	}
	return out.String(), errOut.String(), err
}

func TestCachedBuildBuildsThenReuses(t *testing.T) {
	module := toolsModule(t, "")
	cache := filepath.Join(t.TempDir(), "cache")
	stale := filepath.Join(cache, ".tool-build.left")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, err := cachedBuild(t, module, cache)
	if err != nil {
		t.Fatalf("first run failed: %v\n%s", err, stderr)
	}
	binary := strings.TrimSpace(stdout)
	dir, name := filepath.Split(binary)
	if filepath.Clean(dir) != cache {
		t.Errorf("binary %q is not in the cache folder %s", binary, cache)
	}
	hash, ok := strings.CutPrefix(name, "tool-1.2.3-")
	if !ok {
		t.Errorf("binary name %q does not start with tool-1.2.3-", name)
	}
	if len(hash) != 12 {
		t.Errorf("binary name %q has %d characters of hash, want 12", name, len(hash))
	}
	out, err := exec.Command(binary, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "tool 1.2.3" {
		t.Errorf("%s --version printed %q (%v), want tool 1.2.3", binary, out, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the folder of an interrupted build is still there (%v)", err)
	}
	if !strings.Contains(stderr, "tool-build: building tool v1.2.3") {
		t.Errorf("first run did not log the build:\n%s", stderr)
	}

	again, stderr, err := cachedBuild(t, module, cache)
	if err != nil {
		t.Fatalf("second run failed: %v\n%s", err, stderr)
	}
	if strings.TrimSpace(again) != binary {
		t.Errorf("second run printed %q, want the cached %q", again, binary)
	}
	if !strings.Contains(stderr, "using cached "+binary) {
		t.Errorf("second run did not reuse the cached binary:\n%s", stderr)
	}
}

// TestCachedBuildNewKeyAfterModuleChange checks that an edit of the tools
// module's go.mod builds a binary under a new name.
func TestCachedBuildNewKeyAfterModuleChange(t *testing.T) {
	module := toolsModule(t, "")
	cache := t.TempDir()
	first, stderr, err := cachedBuild(t, module, cache)
	if err != nil {
		t.Fatalf("first run failed: %v\n%s", err, stderr)
	}
	modFile := filepath.Join(module, "go.mod")
	data, err := os.ReadFile(modFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(modFile, append(data, []byte("\ngodebug default=go1.22\n")...), 0o644); err != nil {
		t.Fatal(err)
	}

	second, stderr, err := cachedBuild(t, module, cache)
	if err != nil {
		t.Fatalf("second run failed: %v\n%s", err, stderr)
	}
	if strings.TrimSpace(second) == strings.TrimSpace(first) {
		t.Errorf("both runs printed %q, want a new name after go.mod changed", first)
	}
}

func TestCachedBuildFailuresCacheNothing(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{"build fails", "\tundefinedName()\n", "go build of example.com/tool@v1.2.3 failed"},
		{"binary fails", "\tos.Exit(3)\n", "the built binary does not run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			module := toolsModule(t, tc.body)
			cache := t.TempDir()

			stdout, stderr, err := cachedBuild(t, module, cache)

			if err == nil {
				t.Fatalf("the run succeeded and printed %q", stdout)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			entries, err := os.ReadDir(cache)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), ".lock") {
					t.Errorf("the cache keeps %s after a failed build", e.Name())
				}
			}
		})
	}
}
