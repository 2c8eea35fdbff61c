package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// schemaObjects maps each object of the schema, by JSON pointer, to the
// loader's list of keys for it.
var schemaObjects = map[string][]string{
	"":                        topKeys,
	"/properties/secretStore": storeKeys,
	"/properties/defaults":    defaultsKeys,
	"/$defs/credentialSet":    authKeys,
	"/$defs/secret":           secretKeys,
	"/$defs/template":         templateKeys,
	"/$defs/file":             fileKeys,
	"/$defs/onChange":         onChangeKeys,
}

func loadSchemaMap(t *testing.T) map[string]any {
	t.Helper()
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatalf("schema.json is not JSON: %v", err)
	}
	return schema
}

// schemaProperties returns the pointer of every object in the schema that
// lists properties, with their names.
func schemaProperties(node any, pointer string, out map[string][]string) {
	switch n := node.(type) {
	case map[string]any:
		for key, child := range n {
			childPointer := pointer + "/" + key
			if key == "properties" {
				props, _ := child.(map[string]any)
				names := make([]string, 0, len(props))
				for name, sub := range props {
					names = append(names, name)
					schemaProperties(sub, childPointer+"/"+name, out)
				}
				out[pointer] = names
				continue
			}
			schemaProperties(child, childPointer, out)
		}
	case []any:
		for _, child := range n {
			schemaProperties(child, pointer, out)
		}
	}
}

func TestSchemaKeysMatchLoader(t *testing.T) {
	found := map[string][]string{}
	schemaProperties(loadSchemaMap(t), "", found)
	for pointer, keys := range schemaObjects {
		got, ok := found[pointer]
		if !ok {
			t.Errorf("schema has no properties at %q", pointer)
			continue
		}
		want := slices.Clone(keys)
		sort.Strings(got)
		sort.Strings(want)
		for _, k := range want {
			if !slices.Contains(got, k) {
				t.Errorf("schema at %q lacks the loader's key %q; add it to pkg/config/schema.json and to the Every key block of docs/configuration.md", pointer, k)
			}
		}
		for _, k := range got {
			if !slices.Contains(want, k) {
				t.Errorf("schema at %q has key %q, which the loader rejects; remove it from pkg/config/schema.json, or add it to the loader's key list", pointer, k)
			}
		}
	}
	for pointer := range found {
		if _, ok := schemaObjects[pointer]; !ok {
			t.Errorf("schema object %q has no key list in schemaObjects; add the loader's list for it", pointer)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("schema.json does not compile: %v", err)
	}
	return schema
}

// yamlInstance decodes YAML text into the JSON values that the schema
// checks, as an editor does.
func yamlInstance(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("invalid YAML: %v", err)
	}
	text, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML has no JSON form: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// schemaRejects lists the example configs whose shape is wrong, so the
// schema rejects them; every other example must match it.
var schemaRejects = map[string]bool{
	"testdata/invalid/typos.yaml":         true, // unknown keys
	"testdata/invalid/many-mistakes.yaml": true, // "0999" and "soon"
}

func TestSchemaMatchesExamples(t *testing.T) {
	schema := compileSchema(t)
	files, err := filepath.Glob("../../testdata/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs under testdata: %v", err)
	}
	compat, err := filepath.Glob(filepath.Join(compatDir, "*.yaml"))
	switch {
	case err != nil:
		t.Fatal(err)
	case len(compat) == 0 && os.Getenv("CI") == "true":
		t.Fatalf("no earlier-format examples in %s", compatDir)
	case len(compat) == 0:
		t.Logf("no earlier-format examples in %s; checking testdata only", compatDir)
	}
	for _, file := range append(files, compat...) {
		name := strings.TrimPrefix(filepath.ToSlash(file), "../../")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			err = schema.Validate(yamlInstance(t, data))
			switch {
			case schemaRejects[name] && err == nil:
				t.Errorf("schema accepts %s, whose shape is wrong", name)
			case !schemaRejects[name] && err != nil:
				t.Errorf("schema rejects %s: %v", name, err)
			}
		})
	}
}

func TestSchemaRejectsWrongShapes(t *testing.T) {
	schema := compileSchema(t)
	cases := []struct{ name, text string }{
		{"unknown top-level key", "secrets: []\nsecretstore: {}\n"},
		{"unknown file key", "secrets: [{name: a, key: b, files: [{path: /x, feild: y}]}]\n"},
		{"files as text", "secrets: [{name: a, key: b, files: /x}]\n"},
		{"secret without key", "secrets: [{name: a, files: [{path: /x}]}]\n"},
		{"mode not octal", "secrets: [{name: a, key: b, files: [{path: /x, mode: \"0999\"}]}]\n"},
		{"mode above 0777", "secrets: [{name: a, key: b, files: [{path: /x, mode: \"01777\"}]}]\n"},
		{"duration without unit", "defaults: {refreshInterval: 30}\nsecrets: []\n"},
		{"unknown kvVersion", "defaults: {kvVersion: v3}\nsecrets: []\n"},
		{"unknown authMethod", "secretStore: {authMethod: ldap}\nsecrets: []\n"},
		{"boolean as word", "secretStore: {tlsSkipVerify: maybe}\nsecrets: []\n"},
		{"command as text", "secrets: [{name: a, key: b, files: [{path: /x}], onChange: {command: nginx -s reload}}]\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := schema.Validate(yamlInstance(t, []byte(c.text))); err == nil {
				t.Errorf("schema accepts:\n%s", c.text)
			}
		})
	}
}

func TestSchemaAcceptsLoaderForms(t *testing.T) {
	schema := compileSchema(t)
	cases := []struct{ name, text string }{
		{"address list", "secretStore: {address: [https://a:8200, https://b:8200]}\nsecrets: []\n"},
		{"unquoted octal mode", "defaults: {mode: 0644}\nsecrets: []\n"},
		{"prefixed mode", "defaults: {mode: \"0o640\"}\nsecrets: []\n"},
		{"mode from the environment", "defaults: {mode: \"${MODE}\"}\nsecrets: []\n"},
		{"kvVersion as number", "defaults: {kvVersion: 2}\nsecrets: []\n"},
		{"authMethod in capitals", "secretStore: {authMethod: AppRole}\nsecrets: []\n"},
		{"boolean from the environment", "secretStore: {tlsSkipVerify: \"${SKIP}\"}\nsecrets: []\n"},
		{"compound duration", "defaults: {refreshInterval: 1h30m}\nsecrets: []\n"},
		{"owner by name", "secrets: [{name: a, path: b, files: [{path: /x, owner: nobody, group: 65534}]}]\n"},
		{"signal with prefix", "secrets: [{name: a, key: b, files: [{path: /x}], onChange: {signal: SIGHUP, pidFile: /p}}]\n"},
		{"empty sections", "secretStore:\ndefaults:\nsecrets:\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := schema.Validate(yamlInstance(t, []byte(c.text))); err != nil {
				t.Errorf("schema rejects:\n%s\n%v", c.text, err)
			}
		})
	}
}

// everyKeyBlock returns the YAML block under "## Every key" in
// docs/configuration.md.
func everyKeyBlock(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## Every key")
	if !ok {
		t.Fatal(`docs/configuration.md has no "## Every key" section`)
	}
	_, after, ok = strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatal(`the "Every key" section has no yaml block`)
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal(`the "Every key" yaml block is not closed`)
	}
	return []byte(block)
}

func collectKeys(n *yaml.Node, keys map[string]bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = true
		}
	}
	for _, child := range n.Content {
		collectKeys(child, keys)
	}
}

func TestSchemaPropertiesDocumented(t *testing.T) {
	block := everyKeyBlock(t)
	var root yaml.Node
	if err := yaml.Unmarshal(block, &root); err != nil {
		t.Fatalf("the Every key block is not YAML: %v", err)
	}
	documented := map[string]bool{}
	collectKeys(&root, documented)

	found := map[string][]string{}
	schemaProperties(loadSchemaMap(t), "", found)
	for pointer, names := range found {
		for _, name := range names {
			if !documented[name] {
				t.Errorf("schema property %s/%s is not in the Every key block of docs/configuration.md", pointer, name)
			}
		}
	}
	// The block must also be a config of the right shape, so that it names
	// no key the loader rejects.
	if err := compileSchema(t).Validate(yamlInstance(t, block)); err != nil {
		t.Errorf("the Every key block does not match the schema: %v", err)
	}
}
