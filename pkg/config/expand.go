package config

import (
	"fmt"
	"strings"
)

// LookupFunc reports the value of an environment variable and whether it is
// set, as os.LookupEnv does.
type LookupFunc func(name string) (string, bool)

// expand replaces `${NAME}` and `${NAME:-fallback}` in s with values from
// lookup, and `$$` with a single `$`. A `$` followed by anything else is kept
// as written, so Go template variables such as `{{ $x := .a }}` pass through.
// It returns the names that are referenced but not set.
func expand(s string, lookup LookupFunc) (string, []string, error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
	var unset []string
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, fmt.Errorf("unclosed ${ in %q; close it with } or write $$ for a literal $", abbreviate(s[i:]))
			}
			ref := s[i+2 : i+2+end]
			name, fallback, hasFallback := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				return "", nil, fmt.Errorf("invalid variable name %q in ${%s}; names are letters, digits and _, or write $$ for a literal $", name, ref)
			}
			value, ok := lookup(name)
			switch {
			case ok && (value != "" || !hasFallback):
				b.WriteString(value)
			case hasFallback:
				b.WriteString(fallback)
			default:
				unset = append(unset, name)
			}
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), unset, nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func abbreviate(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
