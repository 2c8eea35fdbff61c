package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/engine"
)

// stdinArg is the argument that makes validate read standard input, and
// stdinName is the file name that its problems carry.
const (
	stdinArg  = "-"
	stdinName = "<stdin>"
)

func newValidateCommand(root *rootOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Check config files for mistakes, offline unless --online",
		Long: `Load each config file exactly as sync does, with the same defaults, ${NAME}
expansion and VAULT_*/BAO_* variables, and print every problem found, one per
line as FILE:LINE:COLUMN: KEY: MESSAGE, then a summary line per file.

The files are the arguments ("-" reads standard input), or else the config file
that sync would use. Without --online nothing connects to the network.

--online also logs in with every credential set in use and reads every secret,
to check that each path is readable and that each field a file uses exists. It
writes no file, prints no value, and does not retry a failed request.

--format json prints one JSON array of problems on standard output, each an
object with file, line, column, path, severity ("error" or "warning") and
message; a clean run prints []. The summary goes to standard error.

Exit codes:
  0  no errors (warnings are allowed unless --strict)
  1  unexpected internal error
  2  an error in a config file, or a warning with --strict, or a usage error
  3  --online: the server is unreachable, TLS failed, or a login was denied
  4  --online: a secret is missing or forbidden, or lacks a field a file uses
When several happen, the first in the order 2, 3, 4 wins.`,
		Example: `  secrets-sync validate -c config.yaml
  secrets-sync validate --strict --format json config/*.yaml
  secrets-sync init | secrets-sync validate -
  secrets-sync validate -c config.yaml --online --timeout 30s`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runValidate(c, root, args)
		},
	}
	c.Flags().Bool("strict", false, "exit 2 on warnings too")
	c.Flags().Bool("online", false, "also log in and check that every secret and field exists, without writing")
	c.Flags().String("format", "text", "output format: text or json")
	root.addPassFlags(c)
	return c
}

func runValidate(c *cobra.Command, root *rootOptions, files []string) error {
	format := root.viper.GetString("format")
	if format != "text" && format != "json" {
		return &usageError{fmt.Errorf("invalid --format %q; use text or json", format)}
	}
	pass, err := root.passOptions()
	if err != nil {
		return err
	}
	if f := c.Flag("config"); f != nil && f.Changed && len(files) > 0 {
		return &usageError{fmt.Errorf("give the config files as arguments or with -c, not both")}
	}
	if len(files) == 0 {
		file, err := root.configFile()
		if err != nil {
			return err
		}
		files = []string{file}
	}

	out := root.streams.Out
	summaries := out
	if format == "json" {
		summaries = root.streams.Err
	}
	var all config.Problems
	var failures []error
	for _, file := range files {
		name := file
		if file == stdinArg {
			name = stdinName
		}
		problems, fileFailures, online := validateFile(c, root, file, name, pass)
		if root.viper.GetBool("strict") && len(problems.Warnings()) > 0 {
			fileFailures = append(fileFailures, &usageError{fmt.Errorf("%s has warnings and --strict is set", name)})
		}
		if format == "text" {
			for _, p := range problems {
				fmt.Fprintln(out, p.String())
			}
		}
		fmt.Fprintln(summaries, summary(name, problems, online))
		all = append(all, problems...)
		failures = append(failures, fileFailures...)
	}
	if format == "json" {
		if err := writeProblemsJSON(out, all); err != nil {
			return err
		}
	}
	if len(failures) > 0 {
		// A PassError makes ExitCode pick the first of 2, 3 and 4, as for
		// sync; every failure is already printed as a problem.
		return &reportedError{err: &engine.PassError{Errors: failures}, noun: "failed check"}
	}
	return nil
}

// validateFile checks one file, and online when asked and the file has no
// error. name is the file name that problems carry. It returns the problems
// in file order, one error per failure for the exit code, and the outcome
// of the online check for the summary.
func validateFile(c *cobra.Command, root *rootOptions, file, name string, pass passOptions) (config.Problems, []error, string) {
	data, err := readConfigFile(root.streams.In, file)
	if err != nil {
		p := config.Problem{File: name, Severity: config.SeverityError, Message: err.Error()}
		return config.Problems{p}, []error{&usageError{err}}, ""
	}
	cfg, problems := config.Parse(name, data, config.Options{})
	var failures []error
	if n := len(problems.Errors()); n > 0 {
		failures = append(failures, &usageError{fmt.Errorf("%s has %d errors", name, n)})
	}
	if !root.viper.GetBool("online") {
		return problems, failures, ""
	}
	if len(failures) > 0 {
		return problems, failures, "online check skipped until the errors are fixed"
	}
	check := checkOnline(c.Context(), cfg, pass)
	problems = append(problems, check.problems...)
	problems.Sort()
	return problems, append(failures, check.failures...), check.summary()
}

func readConfigFile(stdin io.Reader, file string) ([]byte, error) {
	var data []byte
	var err error
	if file == stdinArg {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("config file not found; check the path, or pass -c PATH")
	case err != nil:
		return nil, fmt.Errorf("cannot read the config file: %w", unwrapPath(err))
	}
	return data, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// summary returns the last line about one file, such as
// "config.yaml: 2 errors, 1 warning".
func summary(file string, problems config.Problems, online string) string {
	line := fmt.Sprintf("%s: %s, %s", file,
		plural(len(problems.Errors()), "error"), plural(len(problems.Warnings()), "warning"))
	if online != "" {
		line += " (" + online + ")"
	}
	return line
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// writeProblemsJSON writes the problems as one JSON array with one object
// per line, so that the output is a single document for jq and CI tools and
// still reads well line by line.
func writeProblemsJSON(w io.Writer, problems config.Problems) error {
	var b strings.Builder
	b.WriteString("[")
	for i, p := range problems {
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
		b.Write(data)
	}
	if len(problems) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := io.WriteString(w, b.String())
	return err
}
