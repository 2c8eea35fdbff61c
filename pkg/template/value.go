package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// errEncodeWithheld replaces encoder errors whose text may quote the value
// being encoded, such as encoding/json's "invalid number literal".
var errEncodeWithheld = errors.New("invalid value (details withheld because they may contain secret data)")

// FieldValue returns the value of one top-level field as raw bytes, for
// files that contain a single field. A string is returned byte for byte, a
// json.Number as written, a boolean as true or false, and a JSON null as no
// bytes. An object or list is returned as compact JSON with sorted object keys
// and without HTML escaping. A field that fields lacks is a
// *MissingFieldError, which wraps ErrMissingField.
func FieldValue(fields map[string]any, name string) ([]byte, error) {
	value, ok := fields[name]
	if !ok {
		return nil, &MissingFieldError{Field: name, Available: sortedKeys(fields)}
	}

	text, err := formatValue(value)
	if err != nil {
		return nil, fmt.Errorf("format field %q: %w", name, err)
	}
	return []byte(text), nil
}

// formatValue returns the text that the template output contains for value.
// It is the single place that decides how decoded JSON prints.
func formatValue(value any) (string, error) {
	switch v := value.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	case map[string]any, []any:
		return encodeJSON(v, "")
	case float64:
		// Only callers that decode without json.Decoder.UseNumber pass
		// float64. The 'f' format avoids exponent notation such as
		// 1.754110382e+09.
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case []byte:
		return string(v), nil
	}

	switch reflect.ValueOf(value).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return encodeJSON(value, "")
	}
	return fmt.Sprint(value), nil
}

// encodeJSON returns value as JSON without HTML escaping and without the
// trailing newline that json.Encoder writes. Object keys are sorted, because
// encoding/json sorts map keys. A non-empty indent turns on pretty printing.
func encodeJSON(value any, indent string) (string, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if indent != "" {
		encoder.SetIndent("", indent)
	}

	if err := encoder.Encode(value); err != nil {
		var typeErr *json.UnsupportedTypeError
		if errors.As(err, &typeErr) {
			// The message names only the Go type.
			return "", fmt.Errorf("encode JSON: %w", err)
		}
		return "", fmt.Errorf("encode JSON: %w", errEncodeWithheld)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// encodeYAML returns value as a YAML document with 2-space indentation and
// without the final newline. Numbers keep their written form because
// yamlNode emits each json.Number as a plain scalar of its own text.
func encodeYAML(value any) (string, error) {
	node, err := yamlNode(value)
	if err != nil {
		return "", err
	}

	var buf bytes.Buffer
	encoder := yaml.NewEncoder(&buf)
	encoder.SetIndent(2)
	if err := encoder.Encode(node); err != nil {
		return "", fmt.Errorf("encode YAML: %w", errEncodeWithheld)
	}
	if err := encoder.Close(); err != nil {
		return "", fmt.Errorf("encode YAML: %w", errEncodeWithheld)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// yamlNode converts decoded JSON into a YAML node tree. go.yaml.in/yaml/v3
// v3.0.6 has no special case for json.Number and would quote it as a string,
// so the tree is built by hand. Other Go types go through yaml.Node.Encode.
func yamlNode(value any) (*yaml.Node, error) {
	switch v := value.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
	case json.Number:
		// An empty tag lets the encoder print the text as a plain scalar.
		// Every JSON number literal is a valid plain YAML scalar.
		return &yaml.Node{Kind: yaml.ScalarNode, Value: string(v)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}, nil
	case map[string]any:
		node := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, key := range sortedKeys(v) {
			child, err := yamlNode(v[key])
			if err != nil {
				return nil, err
			}
			keyNode := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
			node.Content = append(node.Content, keyNode, child)
		}
		return node, nil
	case []any:
		node := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, element := range v {
			child, err := yamlNode(element)
			if err != nil {
				return nil, err
			}
			node.Content = append(node.Content, child)
		}
		return node, nil
	}

	node := &yaml.Node{}
	if err := node.Encode(value); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", errEncodeWithheld)
	}
	return node, nil
}

// stringArg converts a helper argument to text. Strings, numbers, booleans and
// null (as "") convert. An object or list is an error, because a helper such as
// upper has no sensible result for it.
func stringArg(value any) (string, error) {
	switch v := value.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(v), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	case []byte:
		return string(v), nil
	}

	rv := reflect.ValueOf(value)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'f', -1, 64), nil
	}
	return "", fmt.Errorf("expected a string, number or boolean, got %s", typeName(value))
}

// intArg converts a helper argument to an int. It accepts Go integers, such as
// template number literals, and integral json.Number values.
func intArg(value any) (int, error) {
	if number, ok := value.(json.Number); ok {
		n, err := strconv.Atoi(string(number))
		if err != nil {
			return 0, errors.New("expected an integer, got a number that is not an integer")
		}
		return n, nil
	}

	rv := reflect.ValueOf(value)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt {
			return 0, errors.New("expected an integer, got an integer out of range")
		}
		return int(rv.Uint()), nil
	}
	return 0, fmt.Errorf("expected an integer, got %s", typeName(value))
}

// typeName names the JSON type of value for error messages, which must never
// contain the value itself.
func typeName(value any) string {
	switch value.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "list"
	}

	switch reflect.ValueOf(value).Kind() {
	case reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return fmt.Sprintf("%T", value)
}

func sortedKeys(fields map[string]any) []string {
	keys := make([]string, 0, len(fields))
	for key := range fields {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
