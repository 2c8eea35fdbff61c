package template

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/template"
)

// printFuncName is the helper that Parse appends to every action that prints,
// so that values print through formatValue instead of fmt.
const printFuncName = "_printValue"

// helperFuncs is the function map of every template. It replaces the builtin
// index, which returns a zero value for a missing key, and the builtin
// comparisons, whose errors can quote data.
var helperFuncs = template.FuncMap{
	printFuncName: formatValue,

	"index":   index,
	"get":     get,
	"has":     has,
	"default": defaultValue,

	"toJSON":       toJSON,
	"toJSONPretty": toJSONPretty,
	"toYAML":       encodeYAML,

	"base64encode":    base64Encode,
	"base64decode":    base64Decode,
	"base64Encode":    base64Encode,
	"base64Decode":    base64Decode,
	"base64URLEncode": base64URLEncode,
	"base64URLDecode": base64URLDecode,

	"trim":       trimSpace,
	"trimSpace":  trimSpace,
	"trimPrefix": trimPrefix,
	"trimSuffix": trimSuffix,
	"upper":      upper,
	"lower":      lower,
	"toUpper":    upper,
	"toLower":    lower,
	"split":      split,
	"join":       join,
	"replace":    replace,
	"replaceAll": replace,
	"contains":   contains,
	"hasPrefix":  hasPrefix,
	"hasSuffix":  hasSuffix,
	"quote":      quote,
	"squote":     squote,
	"indent":     indent,

	"eq": eq,
	"ne": ne,
	"lt": lt,
	"le": le,
	"gt": gt,
	"ge": ge,
}

// index returns item[keys[0]][keys[1]]... A key that an object lacks is a
// *MissingFieldError.
func index(item any, keys ...any) (any, error) {
	for _, key := range keys {
		if item == nil {
			return nil, errors.New("cannot index a null value")
		}
		value, found, err := lookup(item, key)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, missingKeyError(item, key)
		}
		item = value
	}
	return item, nil
}

// get looks up a path of keys like index, but returns nil for a missing key or
// a null along the path, so that templates can read optional fields.
func get(item any, key any, more ...any) (any, error) {
	value, _, err := lookupPath(item, append([]any{key}, more...))
	return value, err
}

// has reports whether the path of keys exists in item. A key whose value is
// null exists.
func has(item any, key any, more ...any) (bool, error) {
	_, found, err := lookupPath(item, append([]any{key}, more...))
	return found, err
}

func lookupPath(item any, keys []any) (value any, found bool, err error) {
	for _, key := range keys {
		if item == nil {
			return nil, false, nil
		}
		item, found, err = lookup(item, key)
		if err != nil || !found {
			return nil, false, err
		}
	}
	return item, true, nil
}

// lookup returns item[key] for an object and a string key, or for a list and
// an integer key. An index outside a list counts as not found.
func lookup(item any, key any) (value any, found bool, err error) {
	switch container := item.(type) {
	case map[string]any:
		name, ok := keyString(key)
		if !ok {
			return nil, false, fmt.Errorf("cannot look up a key of type %s in an object", typeName(key))
		}
		value, found = container[name]
		return value, found, nil
	case []any:
		i, err := intArg(key)
		if err != nil {
			return nil, false, fmt.Errorf("invalid list index: %w", err)
		}
		if i < 0 || i >= len(container) {
			return nil, false, nil
		}
		return container[i], true, nil
	}

	return lookupReflect(item, key)
}

// lookupReflect handles containers of other Go types, such as the []string
// that split returns or a map[string]string that a caller passes.
func lookupReflect(item any, key any) (value any, found bool, err error) {
	rv := reflect.ValueOf(item)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, false, fmt.Errorf("cannot look up a key in an object of type %T", item)
		}
		name, ok := keyString(key)
		if !ok {
			return nil, false, fmt.Errorf("cannot look up a key of type %s in an object", typeName(key))
		}
		element := rv.MapIndex(reflect.ValueOf(name).Convert(rv.Type().Key()))
		if !element.IsValid() {
			return nil, false, nil
		}
		return element.Interface(), true, nil
	case reflect.Slice, reflect.Array:
		i, err := intArg(key)
		if err != nil {
			return nil, false, fmt.Errorf("invalid list index: %w", err)
		}
		if i < 0 || i >= rv.Len() {
			return nil, false, nil
		}
		return rv.Index(i).Interface(), true, nil
	}
	return nil, false, fmt.Errorf("cannot look up a key in a %s", typeName(item))
}

func keyString(key any) (string, bool) {
	switch k := key.(type) {
	case string:
		return k, true
	case json.Number:
		return string(k), true
	}
	return "", false
}

// missingKeyError describes a key that lookup did not find. For a list it
// gives the length instead of the index, because the index may come from data.
func missingKeyError(item any, key any) error {
	rv := reflect.ValueOf(item)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return fmt.Errorf("list index out of range for a list of length %d", rv.Len())
	}

	name, _ := keyString(key)
	if fields, ok := item.(map[string]any); ok {
		return &MissingFieldError{Field: name, Available: sortedKeys(fields)}
	}
	keys := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys)
	return &MissingFieldError{Field: name, Available: keys}
}

// defaultValue returns fallback when value is null, an empty string, an empty
// list or an empty object. false and 0 are values, not empty.
func defaultValue(fallback any, value any) any {
	if value == nil {
		return fallback
	}
	switch v := value.(type) {
	case string:
		if v == "" {
			return fallback
		}
		return v
	case json.Number, bool:
		return v
	}

	rv := reflect.ValueOf(value)
	switch rv.Kind() {
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		if rv.Len() == 0 {
			return fallback
		}
	}
	return value
}

func toJSON(value any) (string, error) {
	return encodeJSON(value, "")
}

func toJSONPretty(value any) (string, error) {
	return encodeJSON(value, "  ")
}

func base64Encode(value any) (string, error) {
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func base64Decode(value any) (string, error) {
	return decodeBase64(value, base64.StdEncoding, base64.RawStdEncoding)
}

func base64URLEncode(value any) (string, error) {
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString([]byte(s)), nil
}

func base64URLDecode(value any) (string, error) {
	return decodeBase64(value, base64.URLEncoding, base64.RawURLEncoding)
}

// decodeBase64 decodes padded input with padded and input without a trailing
// "=" with raw, so that both forms decode. The error from encoding/base64
// gives a byte offset, not the input.
func decodeBase64(value any, padded, raw *base64.Encoding) (string, error) {
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	encoding := padded
	if !strings.HasSuffix(strings.TrimRight(s, "\r\n"), "=") {
		encoding = raw
	}
	decoded, err := encoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("decode base64: %w", err)
	}
	return string(decoded), nil
}

func trimSpace(value any) (string, error) {
	s, err := stringArg(value)
	return strings.TrimSpace(s), err
}

func trimPrefix(prefix, value any) (string, error) {
	return applyStrings(prefix, value, strings.TrimPrefix)
}

func trimSuffix(suffix, value any) (string, error) {
	return applyStrings(suffix, value, strings.TrimSuffix)
}

func upper(value any) (string, error) {
	s, err := stringArg(value)
	return strings.ToUpper(s), err
}

func lower(value any) (string, error) {
	s, err := stringArg(value)
	return strings.ToLower(s), err
}

// split returns the substrings of value between separators. An empty value
// gives an empty list, not a list with one empty string.
func split(separator, value any) ([]string, error) {
	sep, err := stringArg(separator)
	if err != nil {
		return nil, err
	}
	s, err := stringArg(value)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return []string{}, nil
	}
	return strings.Split(s, sep), nil
}

func join(separator, list any) (string, error) {
	sep, err := stringArg(separator)
	if err != nil {
		return "", err
	}
	if list == nil {
		return "", nil
	}

	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return "", fmt.Errorf("expected a list, got %s", typeName(list))
	}
	parts := make([]string, rv.Len())
	for i := range parts {
		part, err := stringArg(rv.Index(i).Interface())
		if err != nil {
			return "", fmt.Errorf("element %d: %w", i, err)
		}
		parts[i] = part
	}
	return strings.Join(parts, sep), nil
}

func replace(old, replacement, value any) (string, error) {
	oldText, err := stringArg(old)
	if err != nil {
		return "", err
	}
	newText, err := stringArg(replacement)
	if err != nil {
		return "", err
	}
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(s, oldText, newText), nil
}

// contains reports whether the string haystack contains the substring needle,
// or whether the list haystack has an element equal to needle under eq.
func contains(needle, haystack any) (bool, error) {
	rv := reflect.ValueOf(haystack)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		for i := 0; i < rv.Len(); i++ {
			equal, err := equalValues(rv.Index(i).Interface(), needle)
			if err == nil && equal {
				return true, nil
			}
		}
		return false, nil
	}

	if rv.Kind() == reflect.Map {
		return false, errors.New("expected a string or a list, got object")
	}
	return applyStringTest(needle, haystack, strings.Contains)
}

func hasPrefix(prefix, value any) (bool, error) {
	return applyStringTest(prefix, value, strings.HasPrefix)
}

func hasSuffix(suffix, value any) (bool, error) {
	return applyStringTest(suffix, value, strings.HasSuffix)
}

// quote returns value as a double-quoted JSON string, which JSON, YAML, TOML
// and HCL all accept. Invalid UTF-8 becomes U+FFFD, as in encoding/json.
func quote(value any) (string, error) {
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	return encodeJSON(s, "")
}

// squote returns value in single quotes with each single quote doubled, as
// YAML and SQL single-quoted strings expect. It is not shell quoting.
func squote(value any) (string, error) {
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

// indent adds the given number of spaces before every line of value that is
// not empty.
func indent(spaces, value any) (string, error) {
	n, err := intArg(spaces)
	if err != nil {
		return "", err
	}
	if n < 0 {
		return "", errors.New("indent width must not be negative")
	}
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}

	padding := strings.Repeat(" ", n)
	var b strings.Builder
	b.Grow(len(s) + n*(strings.Count(s, "\n")+1))
	for line := range strings.SplitAfterSeq(s, "\n") {
		if line != "" && line != "\n" && line != "\r\n" {
			b.WriteString(padding)
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

func applyStrings(argument, value any, apply func(s, argument string) string) (string, error) {
	a, err := stringArg(argument)
	if err != nil {
		return "", err
	}
	s, err := stringArg(value)
	if err != nil {
		return "", err
	}
	return apply(s, a), nil
}

func applyStringTest(argument, value any, test func(s, argument string) bool) (bool, error) {
	a, err := stringArg(argument)
	if err != nil {
		return false, err
	}
	s, err := stringArg(value)
	if err != nil {
		return false, err
	}
	return test(s, a), nil
}
