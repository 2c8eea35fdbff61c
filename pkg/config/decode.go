package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks YAML nodes, expands environment references in scalar values
// and records every problem with its position.
type decoder struct {
	file string
	// text is the file's content, for columns inside block scalars and
	// hints on YAML syntax errors. lineStarts holds the offset of each
	// line in text, built on first use.
	text       []byte
	lineStarts []int
	lookup     LookupFunc
	problems   Problems
	// misspelt contains the paths that an unknown key was probably meant
	// for, such as secrets[0].key for a Key written in the wrong case.
	misspelt map[string]bool
	// split is the secrets list cut out of text while decodeSplit runs, and
	// splitFailed is set when one of its pieces does not parse.
	split       *listSplit
	splitFailed bool
}

// line returns the text of the 1-based line n without its line break, or
// false when the file has no such line.
func (d *decoder) line(n int) (string, bool) {
	if d.lineStarts == nil {
		d.lineStarts = []int{0}
		for i, c := range d.text {
			if c == '\n' {
				d.lineStarts = append(d.lineStarts, i+1)
			}
		}
	}
	if n < 1 || n > len(d.lineStarts) {
		return "", false
	}
	start, end := d.lineStarts[n-1], len(d.text)
	if n < len(d.lineStarts) {
		end = d.lineStarts[n] - 1
	}
	return string(d.text[start:end]), true
}

// indentColumn returns the 1-based column of the first character of the
// 1-based line that is not a space, or 1 when the line is unknown.
func (d *decoder) indentColumn(line int) int {
	text, ok := d.line(line)
	if !ok {
		return 1
	}
	return len(text) - len(strings.TrimLeft(text, " \t")) + 1
}

func (d *decoder) add(sev Severity, at Position, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		File: d.file, Line: at.Line, Column: at.Column, Path: path,
		Severity: sev, Message: fmt.Sprintf(format, args...),
	})
}

// reported reports whether an error already explains why a value at one of
// paths is missing. That is so when the value failed to decode, with an
// error at the path or at an item of a list there, or when an unknown key
// was probably meant for the path or for a mapping that contains it.
func (d *decoder) reported(paths ...string) bool {
	for _, path := range paths {
		for p := path; p != ""; p = parentPath(p) {
			if d.misspelt[p] {
				return true
			}
		}
		for _, p := range d.problems {
			if p.Severity == SeverityError && (p.Path == path || strings.HasPrefix(p.Path, path+"[")) {
				return true
			}
		}
	}
	return false
}

// parentPath returns the path of the mapping or list that contains path:
// secrets[0] for secrets[0].key, secrets for secrets[0], "" for secrets.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// errorf and warnf report a problem at a node of the tree, which exists
// only while the file is decoded. errorAt and warnAt report one at a
// position kept in the raw values, for the checks that run later.

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.add(SeverityError, pos(n), path, format, args...)
}

func (d *decoder) warnf(n *yaml.Node, path, format string, args ...any) {
	d.add(SeverityWarning, pos(n), path, format, args...)
}

func (d *decoder) errorAt(at Position, path, format string, args ...any) {
	d.add(SeverityError, at, path, format, args...)
}

func (d *decoder) warnAt(at Position, path, format string, args ...any) {
	d.add(SeverityWarning, at, path, format, args...)
}

// pos returns the position of n. For nil it returns the zero Position,
// which a problem prints without a line.
func pos(n *yaml.Node) Position {
	if n == nil {
		return Position{}
	}
	return Position{Line: n.Line, Column: n.Column}
}

// fields checks that n is a mapping with only known keys and calls fn for
// each key in file order. Unknown keys are reported with the nearest known
// key, and a key written twice is reported at its second place.
func (d *decoder) fields(n *yaml.Node, path string, known []string, fn func(key string, k, v *yaml.Node)) bool {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			return false
		}
		d.errorf(n, path, "expected a mapping of keys, found %s; write its keys indented below it", describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		key := k.Value
		if k.Tag == "!!merge" {
			d.errorf(k, path, "YAML merge keys (<<) are not supported; write the keys out")
			continue
		}
		if seen[key] {
			d.errorf(k, joinPath(path, key), "key %q is written twice; remove one", key)
			continue
		}
		seen[key] = true
		if !contains(known, key) {
			if s := suggest(key, known); s != "" {
				d.errorf(k, joinPath(path, key), "unknown key %q; did you mean %q?", key, s)
				if d.misspelt == nil {
					d.misspelt = map[string]bool{}
				}
				d.misspelt[joinPath(path, s)] = true
			} else {
				d.errorf(k, joinPath(path, key), "unknown key %q; known keys here: %s", key, strings.Join(known, ", "))
			}
			continue
		}
		fn(key, k, v)
	}
	return true
}

// scalar returns the expanded text of a scalar node and whether any
// environment reference was expanded in it.
func (d *decoder) scalar(n *yaml.Node, path string) (value string, expanded, ok bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected a single value, found %s; write one value on the same line as the key", describe(n))
		return "", false, false
	}
	if isNull(n) {
		return "", false, true
	}
	out, unset, err := expand(n.Value, d.lookup)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false, false
	}
	for _, name := range unset {
		d.errorf(n, path, "environment variable %s is not set; export it, or write ${%s:-fallback} to give a fallback", name, name)
	}
	if len(unset) > 0 {
		return "", false, false
	}
	return out, out != n.Value, true
}

func (d *decoder) str(n *yaml.Node, path string) (opt[string], bool) {
	s, expanded, ok := d.scalar(n, path)
	if !ok {
		return opt[string]{}, false
	}
	literal := n.Style&yaml.LiteralStyle != 0
	return opt[string]{v: s, set: true, at: pos(n), fromEnv: expanded, literal: literal}, true
}

// strList accepts one string or a list of strings.
func (d *decoder) strList(n *yaml.Node, path string) (opt[[]string], bool) {
	if n.Kind == yaml.SequenceNode {
		var out []string
		for i, item := range n.Content {
			s, ok := d.str(resolveAlias(item), indexPath(path, i))
			if !ok {
				return opt[[]string]{}, false
			}
			out = append(out, s.v)
		}
		return opt[[]string]{v: out, set: true, at: pos(n)}, true
	}
	s, ok := d.str(n, path)
	if !ok {
		return opt[[]string]{}, false
	}
	var out []string
	for _, part := range strings.Split(s.v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return opt[[]string]{v: out, set: true, at: pos(n), fromEnv: s.fromEnv}, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (opt[bool], bool) {
	s, expanded, ok := d.scalar(n, path)
	if !ok {
		return opt[bool]{}, false
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		d.errorf(n, path, "%q is not a boolean; write true or false", s)
		return opt[bool]{}, false
	}
	return opt[bool]{v: b, set: true, at: pos(n), fromEnv: expanded}, true
}

func (d *decoder) integer(n *yaml.Node, path string) (opt[int], bool) {
	s, expanded, ok := d.scalar(n, path)
	if !ok {
		return opt[int]{}, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		d.errorf(n, path, "%q is not a whole number; write digits only, such as 3", s)
		return opt[int]{}, false
	}
	return opt[int]{v: v, set: true, at: pos(n), fromEnv: expanded}, true
}

func (d *decoder) duration(n *yaml.Node, path string) (opt[time.Duration], bool) {
	s, expanded, ok := d.scalar(n, path)
	if !ok {
		return opt[time.Duration]{}, false
	}
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		d.errorf(n, path, "%s has no unit; write a duration such as \"%ss\" or \"5m\"", s, s)
		return opt[time.Duration]{}, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "%q is not a duration; write a number with a unit, such as \"30s\", \"5m\" or \"1h\"", s)
		return opt[time.Duration]{}, false
	}
	if v < MinRefreshInterval {
		d.errorf(n, path, "%s is below the minimum of %s; write %q or more", v, MinRefreshInterval, MinRefreshInterval.String())
		return opt[time.Duration]{}, false
	}
	return opt[time.Duration]{v: v, set: true, at: pos(n), fromEnv: expanded}, true
}

// opt is a value that may be absent from the file, with its position for
// later checks.
type opt[T any] struct {
	v       T
	at      Position // zero when unset
	set     bool
	fromEnv bool // some ${NAME} reference was expanded in it
	// literal marks a literal block scalar (|). Unless fromEnv is set, its
	// lines are the file's lines.
	literal bool
}

func (o opt[T]) or(fallback T) T {
	if o.set {
		return o.v
	}
	return fallback
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "an empty value"
		}
		return fmt.Sprintf("the value %q", abbreviate(n.Value))
	}
	return "something else"
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath returns the path of item i of the list at parent, such as
// secrets[2].
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known key nearest to key: one that differs only in
// case, else the closest by edit distance when it is close enough to be a
// typo.
func suggest(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	best, bestDist := "", -1
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	for _, k := range sorted {
		dist := editDistance(strings.ToLower(key), strings.ToLower(k))
		if bestDist < 0 || dist < bestDist {
			best, bestDist = k, dist
		}
	}
	limit := len(key) / 3
	if limit < 2 {
		limit = 2
	}
	if bestDist >= 0 && bestDist <= limit {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortStrings(s []string) { sort.Strings(s) }
