package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"

	"github.com/secrets-sync/secrets-sync/pkg/config"
	"github.com/secrets-sync/secrets-sync/pkg/sink"
	"github.com/secrets-sync/secrets-sync/pkg/template"
)

func newRenderCommand(root *rootOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "render",
		Short: "Render secret files to stdout or a folder, never to their destinations",
		Long: `Read the configured secrets and render their files to standard output, or
under --output-dir, without touching the configured destinations.

On standard output each file starts with a header line "==> PATH <==". When
exactly one file is selected (one secret with one file, or --file), the output
is that file's bytes alone, so "secrets-sync render --file .env > .env" works.
With --output-dir each file keeps its whole destination path under the folder.

--template FILE renders a template file that is not in the config with the
data of the one secret named by --secret, to standard output.
` + exitCodesHelp,
		Example: `  secrets-sync render -c config.yaml
  secrets-sync render -c config.yaml --secret db
  secrets-sync render -c config.yaml --file /run/secrets/db.env > db.env
  secrets-sync render -c config.yaml --output-dir ./out
  secrets-sync render -c config.yaml --secret db --template db.conf.tmpl`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runRender(c, root)
		},
	}
	c.Flags().StringArray("secret", nil, "render only this secret (repeatable; never read from SECRETS_SYNC_SECRET, which onChange commands get)")
	c.Flags().String("file", "", "render only the file with this destination path")
	c.Flags().String("output-dir", "", "write files under this folder instead of standard output")
	c.Flags().String("template", "", "render this template file with the data of the secret named by --secret")
	root.addPassFlags(c)
	return c
}

func runRender(c *cobra.Command, root *rootOptions) error {
	logger, err := root.logger(log.WarnLevel)
	if err != nil {
		return err
	}
	opts, err := root.passOptions()
	if err != nil {
		return err
	}
	opts.rendering = true
	cfg, err := root.loadConfig(logger)
	if err != nil {
		return err
	}
	secrets, err := selectSecrets(cfg, root.viper.GetStringSlice("secret"), root.viper.GetString("file"))
	if err != nil {
		return err
	}
	if file := root.viper.GetString("template"); file != "" {
		if root.viper.GetString("output-dir") != "" || root.viper.GetString("file") != "" {
			return &usageError{fmt.Errorf("--template prints to standard output and cannot be combined with --output-dir or --file")}
		}
		if secrets, err = adHocTemplate(secrets, file, root.viper.GetStringSlice("secret")); err != nil {
			return err
		}
	}
	var out sink.Sink
	if dir := root.viper.GetString("output-dir"); dir != "" {
		out = sink.NewFolder(dir)
	} else {
		files := 0
		for _, s := range secrets {
			files += len(s.Files)
		}
		out = sink.NewStream(root.rawOut, files != 1)
	}
	report, err := runPass(c.Context(), cfg, secrets, out, opts, logger)
	if err != nil {
		return err
	}
	if err := report.Err(); err != nil {
		return &reportedError{err: err}
	}
	return nil
}

// selectSecrets keeps the secrets named in names (all when names is empty)
// and, when file is set, only the one file whose destination is file.
func selectSecrets(cfg *config.Config, names []string, file string) ([]config.Secret, error) {
	secrets := cfg.Secrets
	if len(names) > 0 {
		byName := map[string]config.Secret{}
		for _, s := range cfg.Secrets {
			byName[s.Name] = s
		}
		secrets = nil
		for _, name := range names {
			s, ok := byName[name]
			if !ok {
				return nil, &usageError{fmt.Errorf("no secret named %q in %s; known secrets: %s", name, cfg.File, secretNames(cfg))}
			}
			secrets = append(secrets, s)
		}
	}
	if file == "" {
		return secrets, nil
	}
	abs, _ := filepath.Abs(file)
	for _, s := range secrets {
		for _, f := range s.Files {
			if f.Dest == filepath.Clean(file) || f.Path == abs {
				s.Files = []config.File{f}
				return []config.Secret{s}, nil
			}
		}
	}
	return nil, &usageError{fmt.Errorf("no file with destination %s among the selected secrets; render without --file lists them in its headers", file)}
}

func secretNames(cfg *config.Config) string {
	names := make([]string, 0, len(cfg.Secrets))
	for _, s := range cfg.Secrets {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// adHocTemplate replaces the files of the one selected secret with a single
// file rendered from the template at path, for standard output.
func adHocTemplate(secrets []config.Secret, path string, names []string) ([]config.Secret, error) {
	if len(names) != 1 || len(secrets) != 1 {
		return nil, &usageError{fmt.Errorf("--template needs exactly one --secret NAME, whose data the template reads")}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, &templateFileError{Path: path, Err: err}
	}
	tmpl, err := template.Parse(path, string(text))
	if err != nil {
		return nil, &templateFileError{Path: path, Err: err, Invalid: true}
	}
	s := secrets[0]
	s.Files = []config.File{{
		Path:       filepath.Join(string(filepath.Separator), filepath.Base(path)),
		Dest:       filepath.Base(path),
		Tmpl:       tmpl,
		Mode:       config.DefaultMode,
		UID:        -1,
		GID:        -1,
		AllowEmpty: true,
	}}
	return []config.Secret{s}, nil
}

// templateFileError is a template file named by render --template that
// cannot be read or does not parse. It is a usage error whose hint points
// at that file rather than at the command line.
type templateFileError struct {
	Path    string
	Err     error
	Invalid bool // the file was read, and its text does not parse
}

func (e *templateFileError) Error() string {
	if !e.Invalid {
		return fmt.Sprintf("cannot read the template file %s: %v", e.Path, unwrapPath(e.Err))
	}
	var parseErr *template.Error
	if errors.As(e.Err, &parseErr) && parseErr.Line > 0 {
		return fmt.Sprintf("%s:%d: invalid template: %v", e.Path, parseErr.Line, parseErr.Err)
	}
	return fmt.Sprintf("%s: invalid template: %v", e.Path, e.Err)
}

func (e *templateFileError) Unwrap() error { return e.Err }
