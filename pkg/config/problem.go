package config

import (
	"fmt"
	"sort"
	"strings"
)

// Severity is whether a problem stops the config from loading.
type Severity string

const (
	// SeverityError marks a problem that makes the config unusable.
	SeverityError Severity = "error"
	// SeverityWarning marks a risky but usable setting.
	SeverityWarning Severity = "warning"
)

// Problem is one mistake or risk found in a config file.
type Problem struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Path     string   `json:"path"` // e.g. secrets[2].files[0].mode
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String formats the problem as FILE:LINE:COL: PATH: MESSAGE.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	}
	b.WriteString(": ")
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the list of problems found in one config file. As an error it
// carries only the errors; warnings are kept for callers that print them.
type Problems []Problem

// Errors returns the problems of severity error.
func (ps Problems) Errors() Problems {
	return ps.filter(SeverityError)
}

// Warnings returns the problems of severity warning.
func (ps Problems) Warnings() Problems {
	return ps.filter(SeverityWarning)
}

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Sort orders the problems by position, so output follows the file.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}

// Error lists every error, one per line.
func (ps Problems) Error() string {
	errs := ps.Errors()
	lines := make([]string, len(errs))
	for i, p := range errs {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// InvalidError is returned by Load when the file has errors. Its Problems
// include the warnings too.
type InvalidError struct {
	File     string
	Problems Problems
}

func (e *InvalidError) Error() string {
	n := len(e.Problems.Errors())
	noun := "problems"
	if n == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid config %s (%d %s):\n%s", e.File, n, noun, e.Problems.Error())
}
