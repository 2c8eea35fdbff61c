package template_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/template"
)

// decodeFields decodes a secret's data the way the Vault client does.
func decodeFields(t testing.TB, data string) map[string]any {
	t.Helper()
	decoder := json.NewDecoder(strings.NewReader(data))
	decoder.UseNumber()
	var fields map[string]any
	if err := decoder.Decode(&fields); err != nil {
		t.Fatalf("decode test data %s: %v", data, err)
	}
	return fields
}

func render(t *testing.T, text, data string) (string, error) {
	t.Helper()
	tmpl, err := template.Parse("test.tmpl", text)
	if err != nil {
		t.Fatalf("Parse(%q) error: %v", text, err)
	}
	output, err := tmpl.Render(decodeFields(t, data))
	return string(output), err
}

type renderCase struct {
	name string
	text string
	data string
	want string
}

func runRenderCases(t *testing.T, cases []renderCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(t, tc.text, tc.data)
			if err != nil {
				t.Fatalf("Render(%q) error: %v", tc.text, err)
			}
			if got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestRenderPrintsValues(t *testing.T) {
	runRenderCases(t, []renderCase{
		{"string", `{{ .s }}`, `{"s":"hunter2"}`, "hunter2"},
		{"string with newline kept", `{{ .s }}`, `{"s":"a\nb\n"}`, "a\nb\n"},
		{"integer as written", `{{ .n }}`, `{"n":1754110382}`, "1754110382"},
		{"decimal keeps trailing zero", `{{ .n }}`, `{"n":3.50}`, "3.50"},
		{"exponent as written", `{{ .n }}`, `{"n":1E+3}`, "1E+3"},
		{"integer beyond int64", `{{ .n }}`, `{"n":123456789012345678901234567890}`, "123456789012345678901234567890"},
		{"true", `{{ .b }}`, `{"b":true}`, "true"},
		{"false", `{{ .b }}`, `{"b":false}`, "false"},
		{"null prints empty", `[{{ .n }}]`, `{"n":null}`, "[]"},
		{"null from get prints empty", `[{{ get . "x" }}]`, `{}`, "[]"},
		{"object as compact JSON", `{{ .o }}`, `{"o":{"b":1,"a":{"c":[1,"x",null]}}}`, `{"a":{"c":[1,"x",null]},"b":1}`},
		{"list as compact JSON", `{{ .l }}`, `{"l":[3.50,"a",true,null]}`, `[3.50,"a",true,null]`},
		{"empty object", `{{ .o }}`, `{"o":{}}`, `{}`},
		{"whole secret as JSON", `{{ . }}`, `{"b":"2","a":1}`, `{"a":1,"b":"2"}`},
		{"no HTML escaping", `{{ .s }}`, `{"s":"<a href=\"x\">&amp;</a>"}`, `<a href="x">&amp;</a>`},
		{"object keeps HTML characters", `{{ .o }}`, `{"o":{"k":"a&b<c>"}}`, `{"k":"a&b<c>"}`},
		{"no trailing newline added", "a={{ .a }}", `{"a":"1"}`, "a=1"},
		{"text kept byte for byte", "x\r\n\ty {{ .a }} \n\n", `{"a":"1"}`, "x\r\n\ty 1 \n\n"},
		{"empty template", ``, `{"a":"1"}`, ""},
		{"nested field", `{{ .a.b.c }}`, `{"a":{"b":{"c":"deep"}}}`, "deep"},
		{"root variable in range", `{{ range .l }}{{ $.p }}{{ . }},{{ end }}`, `{"l":["a","b"],"p":"-"}`, "-a,-b,"},
		{"range over object sorted", `{{ range $k, $v := .o }}{{ $k }}={{ $v }};{{ end }}`, `{"o":{"b":2,"a":1}}`, "a=1;b=2;"},
		{"range element object as JSON", `{{ range .l }}{{ . }}{{ end }}`, `{"l":[{"k":1}]}`, `{"k":1}`},
		{"zero number is true in if", `{{ if .n }}true{{ else }}false{{ end }}`, `{"n":0}`, "true"},
		{"with on null takes else", `{{ with .n }}set{{ else }}unset{{ end }}`, `{"n":null}`, "unset"},
		{"variable prints value", `{{ $v := .o }}{{ $v }}`, `{"o":{"a":1}}`, `{"a":1}`},
		{"defined template", `{{ define "t" }}<{{ .a }}>{{ end }}{{ template "t" . }}`, `{"a":"x"}`, "<x>"},
		{"printf uses text", `{{ printf "%s:%s" .h .p }}`, `{"h":"db","p":5432}`, "db:5432"},
		{"index list", `{{ index .l 1 }}`, `{"l":["a","b"]}`, "b"},
		{"index nested keys", `{{ index . "a" "b" }}`, `{"a":{"b":"x"}}`, "x"},
		{"index key with dash", `{{ index . "db-pass" }}`, `{"db-pass":"x"}`, "x"},
	})
}

func TestRenderHelpers(t *testing.T) {
	runRenderCases(t, []renderCase{
		{"get present", `{{ get . "x" }}`, `{"x":"v"}`, "v"},
		{"get missing with default", `{{ get . "x" | default "none" }}`, `{}`, "none"},
		{"get nested path", `{{ get . "a" "b" }}`, `{"a":{"b":"v"}}`, "v"},
		{"get through null", `[{{ get . "a" "b" }}]`, `{"a":null}`, "[]"},
		{"get through missing parent", `[{{ get . "a" "b" }}]`, `{}`, "[]"},
		{"get list index out of range", `[{{ get .l 5 }}]`, `{"l":[1]}`, "[]"},
		{"has present", `{{ if has . "x" }}yes{{ else }}no{{ end }}`, `{"x":"v"}`, "yes"},
		{"has missing", `{{ if has . "x" }}yes{{ else }}no{{ end }}`, `{}`, "no"},
		{"has null value", `{{ has . "x" }}`, `{"x":null}`, "true"},
		{"has nested", `{{ has . "a" "b" }}`, `{"a":{"b":1}}`, "true"},
		{"default on empty string", `{{ .x | default "d" }}`, `{"x":""}`, "d"},
		{"default on null", `{{ .x | default "d" }}`, `{"x":null}`, "d"},
		{"default on empty list", `{{ .x | default "d" }}`, `{"x":[]}`, "d"},
		{"default on empty object", `{{ .x | default "d" }}`, `{"x":{}}`, "d"},
		{"default keeps false", `{{ .x | default "d" }}`, `{"x":false}`, "false"},
		{"default keeps zero", `{{ .x | default "d" }}`, `{"x":0}`, "0"},
		{"default keeps value", `{{ .x | default "d" }}`, `{"x":"v"}`, "v"},

		{"toJSON keeps HTML characters", `{{ toJSON .o }}`, `{"o":{"k":"a&b<c>"}}`, `{"k":"a&b<c>"}`},
		{"toJSON keeps numbers", `{{ toJSON . }}`, `{"t":1754110382,"p":3.50}`, `{"p":3.50,"t":1754110382}`},
		{"toJSON string", `{{ .s | toJSON }}`, `{"s":"a\"b"}`, `"a\"b"`},
		{"toJSON null", `{{ toJSON .n }}`, `{"n":null}`, `null`},
		{"toJSONPretty", `{{ toJSONPretty .o }}`, `{"o":{"b":[1],"a":"&"}}`, "{\n  \"a\": \"&\",\n  \"b\": [\n    1\n  ]\n}"},
		{"toYAML nested", `{{ toYAML . }}`, `{"b":{"y":[1,"x"]},"a":"s"}`, "a: s\nb:\n  y:\n    - 1\n    - x"},
		{"toYAML keeps numbers", `{{ toYAML . }}`, `{"t":1754110382,"p":3.50,"e":1e5}`, "e: 1e5\np: 3.50\nt: 1754110382"},
		{"toYAML quotes numeric strings", `{{ toYAML . }}`, `{"s":"123","b":"true"}`, "b: \"true\"\ns: \"123\""},
		{"toYAML null and bool", `{{ toYAML . }}`, `{"n":null,"b":false}`, "b: false\nn: null"},
		{"toYAML multiline string", `{{ toYAML . }}`, `{"k":"line1\nline2"}`, "k: |-\n  line1\n  line2"},
		{"toYAML keeps HTML characters", `{{ toYAML . }}`, `{"k":"a&b<c>"}`, "k: a&b<c>"},
		{"toYAML empty object", `{{ toYAML .o }}`, `{"o":{}}`, "{}"},
		{"toYAML split result", `{{ split "," "a,b" | toYAML }}`, `{}`, "- a\n- b"},

		{"base64encode", `{{ base64encode .s }}`, `{"s":"hello"}`, "aGVsbG8="},
		{"base64decode padded", `{{ base64decode .s }}`, `{"s":"aGVsbG8="}`, "hello"},
		{"base64decode unpadded", `{{ base64decode .s }}`, `{"s":"aGVsbG8"}`, "hello"},
		{"base64decode with line breaks", `{{ base64decode .s }}`, `{"s":"aGVs\nbG8="}`, "hello"},
		{"base64Encode alias", `{{ base64Encode "hi" }}`, `{}`, "aGk="},
		{"base64Decode alias", `{{ base64Decode "aGk=" }}`, `{}`, "hi"},
		{"base64URLEncode", `{{ base64URLEncode .s }}`, `{"s":"\u00ff\u00fe"}`, "w7_Dvg=="},
		{"base64URLDecode padded", `{{ base64URLDecode "w7_Dvg==" }}`, `{}`, "\u00ff\u00fe"},
		{"base64URLDecode unpadded", `{{ base64URLDecode "w7_Dvg" }}`, `{}`, "\u00ff\u00fe"},

		{"trim", `[{{ trim .s }}]`, `{"s":" \t a b \n"}`, "[a b]"},
		{"trimSpace", `[{{ trimSpace .s }}]`, `{"s":" a\n"}`, "[a]"},
		{"trimPrefix", `{{ .s | trimPrefix "v" }}`, `{"s":"v1.2"}`, "1.2"},
		{"trimSuffix", `{{ .s | trimSuffix ".com" }}`, `{"s":"db.example.com"}`, "db.example"},
		{"upper", `{{ upper .s }}`, `{"s":"abc"}`, "ABC"},
		{"lower", `{{ lower .s }}`, `{"s":"ABC"}`, "abc"},
		{"toUpper alias", `{{ toUpper "a" }}`, `{}`, "A"},
		{"toLower alias", `{{ toLower "A" }}`, `{}`, "a"},
		{"upper of number", `{{ upper .n }}`, `{"n":1e3}`, "1E3"},
		{"split and join", `{{ .s | split "," | join ";" }}`, `{"s":"a,b,c"}`, "a;b;c"},
		{"split empty gives empty list", `{{ split "," .s }}`, `{"s":""}`, "[]"},
		{"split prints as JSON", `{{ split "," .s }}`, `{"s":"a,b"}`, `["a","b"]`},
		{"index split result", `{{ index (split "," .s) 1 }}`, `{"s":"a,b"}`, "b"},
		{"join data list", `{{ join "," .l }}`, `{"l":["a",1,true]}`, "a,1,true"},
		{"replace", `{{ .s | replace "." "_" }}`, `{"s":"a.b.c"}`, "a_b_c"},
		{"replaceAll alias", `{{ .s | replaceAll "." "_" }}`, `{"s":"a.b"}`, "a_b"},
		{"contains substring", `{{ .s | contains "ell" }}`, `{"s":"hello"}`, "true"},
		{"contains missing substring", `{{ contains "x" .s }}`, `{"s":"hello"}`, "false"},
		{"contains list element", `{{ .tags | contains "prod" }}`, `{"tags":["dev","prod"]}`, "true"},
		{"contains list number", `{{ contains 2 .l }}`, `{"l":[1,2.0]}`, "true"},
		{"hasPrefix", `{{ .s | hasPrefix "he" }}`, `{"s":"hello"}`, "true"},
		{"hasSuffix", `{{ .s | hasSuffix "he" }}`, `{"s":"hello"}`, "false"},
		{"quote", `{{ quote .s }}`, `{"s":"a\"b\\c\n<&>"}`, `"a\"b\\c\n<&>"`},
		{"quote number", `{{ quote .n }}`, `{"n":5432}`, `"5432"`},
		{"squote", `{{ squote .s }}`, `{"s":"it's"}`, `'it''s'`},
		{"indent", `{{ indent 2 .s }}`, `{"s":"a\n\nb\n"}`, "  a\n\n  b\n"},
		{"indent from data width", `{{ indent .w "x" }}`, `{"w":3}`, "   x"},
		{"indent zero", `{{ indent 0 .s }}`, `{"s":"a"}`, "a"},
		{"indent toYAML", `{{ toYAML .o | indent 4 }}`, `{"o":{"a":{"b":1}}}`, "    a:\n      b: 1"},
	})
}

func TestRenderComparisons(t *testing.T) {
	runRenderCases(t, []renderCase{
		{"eq numbers by value", `{{ eq .a .b }}`, `{"a":3.50,"b":3.5}`, "true"},
		{"eq number and literal", `{{ eq .p 5432 }}`, `{"p":5432}`, "true"},
		{"eq number and float literal", `{{ eq .p 3.5 }}`, `{"p":3.50}`, "true"},
		{"eq number and string text", `{{ eq .p "5432" }}`, `{"p":5432}`, "true"},
		{"eq strings", `{{ eq .s "a" "b" }}`, `{"s":"b"}`, "true"},
		{"eq strings differ", `{{ eq .s "a" }}`, `{"s":"b"}`, "false"},
		{"eq booleans", `{{ eq .b true }}`, `{"b":true}`, "true"},
		{"eq null and null", `{{ eq .n .m }}`, `{"n":null,"m":null}`, "true"},
		{"eq null and string", `{{ eq .n "" }}`, `{"n":null}`, "false"},
		{"ne", `{{ ne .s "a" }}`, `{"s":"b"}`, "true"},
		{"lt numbers by value", `{{ lt .a .b }}`, `{"a":10,"b":9}`, "false"},
		{"gt numbers by value", `{{ gt .a .b }}`, `{"a":10,"b":9}`, "true"},
		{"le equal decimals", `{{ le .a .b }}`, `{"a":1.0,"b":1}`, "true"},
		{"ge big integers", `{{ ge .a .b }}`, `{"a":123456789012345678901234567891,"b":123456789012345678901234567890}`, "true"},
		{"lt big integers", `{{ lt .a .b }}`, `{"a":123456789012345678901234567891,"b":123456789012345678901234567890}`, "false"},
		{"lt with literal", `{{ if lt .port 1024 }}privileged{{ end }}`, `{"port":80}`, "privileged"},
		{"lt strings", `{{ lt .a .b }}`, `{"a":"abc","b":"abd"}`, "true"},
		{"eq in if", `{{ if eq .env "prod" }}P{{ else }}D{{ end }}`, `{"env":"prod"}`, "P"},
	})
}

func TestRenderMissingField(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		data  string
		field string
	}{
		{"field", `{{ .x }}`, `{"a":"1"}`, "x"},
		{"field in pipeline", `{{ .x | upper }}`, `{"a":"1"}`, "x"},
		{"field with default", `{{ .x | default "d" }}`, `{"a":"1"}`, "x"},
		{"root variable field", `{{ $.x }}`, `{"a":"1"}`, "x"},
		{"nested field", `{{ .a.b }}`, `{"a":{"c":"1"}}`, "b"},
		{"index", `{{ index . "x" }}`, `{"a":"1"}`, "x"},
		{"nested index", `{{ index .a "b" }}`, `{"a":{"c":"1"}}`, "b"},
		{"index path", `{{ index . "a" "b" }}`, `{"a":{"c":"1"}}`, "b"},
		{"field in with body", `{{ with .a }}{{ .b }}{{ end }}`, `{"a":{"c":"1"}}`, "b"},
		{"field in defined template", `{{ define "t" }}{{ .x }}{{ end }}{{ template "t" . }}`, `{"a":"1"}`, "x"},
		{"field in if condition", `{{ if .x }}y{{ end }}`, `{"a":"1"}`, "x"},
		{"field as argument", `{{ printf "%s" .x }}`, `{"a":"1"}`, "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			output, err := render(t, tc.text, tc.data)
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", tc.text, output)
			}
			if !errors.Is(err, template.ErrMissingField) {
				t.Errorf("Render(%q) error %q does not wrap ErrMissingField", tc.text, err)
			}
			var missing *template.MissingFieldError
			if !errors.As(err, &missing) {
				t.Fatalf("Render(%q) error %q is not a *MissingFieldError", tc.text, err)
			}
			if missing.Field != tc.field {
				t.Errorf("MissingFieldError.Field = %q, want %q", missing.Field, tc.field)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.field)) {
				t.Errorf("error %q does not name field %q", err, tc.field)
			}
			if output != "" {
				t.Errorf("Render(%q) output = %q, want none", tc.text, output)
			}
			if strings.Contains(err.Error(), "<no value>") {
				t.Errorf("error %q mentions <no value>", err)
			}
		})
	}
}

func TestRenderMissingFieldListsNames(t *testing.T) {
	_, err := render(t, `{{ index . "pasword" }}`, `{"password":"s3cr3t","user":"admin"}`)

	var missing *template.MissingFieldError
	if !errors.As(err, &missing) {
		t.Fatalf("Render error %v is not a *MissingFieldError", err)
	}
	if want := []string{"password", "user"}; !slices.Equal(missing.Available, want) {
		t.Errorf("Available = %q, want %q", missing.Available, want)
	}
	if !strings.Contains(err.Error(), `available fields: "password", "user"`) {
		t.Errorf("error %q does not list the available fields", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "admin") {
		t.Errorf("error %q contains a value", err)
	}
}

func TestRenderMissingDotFieldListsNames(t *testing.T) {
	const data = `{"password":"s3cr3t","user":"admin","db":{"host":"h0st","port":5432}}`
	cases := []struct {
		name, text string
		want       []string // nil when the searched object is unknown
	}{
		{"field", `{{ .passwrd }}`, []string{"db", "password", "user"}},
		{"field on a later line", "user={{ .user }}\npass={{ .prot }}", []string{"db", "password", "user"}},
		{"field in pipeline", `{{ .passwrd | upper }}`, []string{"db", "password", "user"}},
		{"field as argument", `{{ printf "%s" .passwrd }}`, []string{"db", "password", "user"}},
		{"field in if condition", `{{ if .passwrd }}y{{ end }}`, []string{"db", "password", "user"}},
		{"root variable field", `{{ $.passwrd }}`, []string{"db", "password", "user"}},
		{"nested field", `{{ .db.hots }}`, []string{"host", "port"}},
		{"missing parent", `{{ .dbb.host }}`, []string{"db", "password", "user"}},
		{"root variable inside with", `{{ with .db }}{{ $.passwrd }}{{ end }}`, []string{"db", "password", "user"}},
		{"field inside with", `{{ with .db }}{{ .hots }}{{ end }}`, nil},
		{"field inside range", `{{ range $k, $v := .db }}{{ $.x }}{{ end }}`, []string{"db", "password", "user"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.text, data)
			var missing *template.MissingFieldError
			if !errors.As(err, &missing) {
				t.Fatalf("Render(%q) error %v is not a *MissingFieldError", tc.text, err)
			}
			if !slices.Equal(missing.Available, tc.want) {
				t.Errorf("Available = %q, want %q", missing.Available, tc.want)
			}
			if tc.want != nil && !strings.Contains(err.Error(), "(available fields: ") {
				t.Errorf("error %q does not list the available fields", err)
			}
			for _, value := range []string{"s3cr3t", "admin", "h0st", "5432"} {
				if strings.Contains(err.Error(), value) {
					t.Errorf("error %q contains the value %q", err, value)
				}
			}
		})
	}
}

func TestRenderMissingFieldCapsNames(t *testing.T) {
	names := make([]string, 30)
	for i := range names {
		names[i] = fmt.Sprintf(`"f%02d":1`, i)
	}
	_, err := render(t, `{{ index . "x" }}`, "{"+strings.Join(names, ",")+"}")

	if err == nil {
		t.Fatal("Render succeeded, want a missing field error")
	}
	if !strings.Contains(err.Error(), `"f19" and 10 more)`) {
		t.Errorf("error %q does not cap the list at 20 names", err)
	}
	if strings.Contains(err.Error(), `"f20"`) {
		t.Errorf("error %q lists more than 20 names", err)
	}
}

func TestRenderDataKeyWithheld(t *testing.T) {
	const secret = "k3y-from-data-7781"
	_, err := render(t, `{{ index .users .current }}`, `{"users":{"alice":"1"},"current":"`+secret+`"}`)

	if !errors.Is(err, template.ErrMissingField) {
		t.Fatalf("Render error %v does not wrap ErrMissingField", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the key taken from data", err)
	}
	var missing *template.MissingFieldError
	if errors.As(err, &missing) && missing.Field != "" {
		t.Errorf("MissingFieldError.Field = %q, want it withheld", missing.Field)
	}
}

func TestRenderErrorsOmitValues(t *testing.T) {
	const secret = "s3cr3t-VALUE-9137"
	data := `{
		"password": "` + secret + `",
		"number": 4815162342,
		"obj": {"inner": "` + secret + `", "n": 4815162342},
		"list": ["` + secret + `", 4815162342],
		"key": "` + secret + `",
		"flag": true
	}`
	values := []string{secret, "4815162342"}
	texts := []string{
		`{{ range .password }}{{ end }}`,
		`{{ range .number }}{{ end }}`,
		`{{ range .flag }}{{ end }}`,
		`{{ range $i, $v := .password }}{{ end }}`,
		`{{ eq .obj .list }}`,
		`{{ eq .obj .obj }}`,
		`{{ eq .list .list }}`,
		`{{ eq .password .flag }}`,
		`{{ ne .obj .password }}`,
		`{{ lt .obj .number }}`,
		`{{ lt .password .number }}`,
		`{{ .password.x }}`,
		`{{ .number.x }}`,
		`{{ .obj.inner.x }}`,
		`{{ .password 1 }}`,
		`{{ index .password 1 }}`,
		`{{ index .list 99 }}`,
		`{{ index .list .number }}`,
		`{{ index .obj .password }}`,
		`{{ index . .key }}`,
		`{{ index .obj .obj }}`,
		`{{ get .password "x" }}`,
		`{{ has .number "x" }}`,
		`{{ base64decode .password }}`,
		`{{ base64URLDecode .password }}`,
		`{{ upper .obj }}`,
		`{{ join "," .obj }}`,
		`{{ join "," .password }}`,
		`{{ indent .password "x" }}`,
		`{{ indent -1 .password }}`,
		`{{ split .obj .password }}`,
		`{{ contains .password .obj }}`,
		`{{ slice .password 1 100 }}`,
		`{{ slice .list 5 }}`,
		`{{ call .password }}`,
		`{{ len .number | printf "%d" | index .obj }}`,
		`{{ template "missing" . }}`,
		`{{ .password | toJSON | index .obj }}`,
	}
	fields := decodeFields(t, data)
	for _, text := range texts {
		t.Run(text, func(t *testing.T) {
			tmpl, err := template.Parse("leak.tmpl", text)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", text, err)
			}
			output, err := tmpl.Render(fields)
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", text, output)
			}
			for _, value := range values {
				if strings.Contains(err.Error(), value) {
					t.Errorf("Render(%q) error contains value %q: %v", text, value, err)
				}
				for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
					if strings.Contains(e.Error(), value) {
						t.Errorf("Render(%q) wrapped error contains value %q: %v", text, value, e)
					}
				}
			}
			var renderErr *template.Error
			if !errors.As(err, &renderErr) {
				t.Errorf("Render(%q) error %v is not a *template.Error", text, err)
			}
		})
	}
}

func TestRenderErrorPosition(t *testing.T) {
	tmpl, err := template.Parse("app/db.conf", "host={{ .host }}\npass={{ .password }}")
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	_, err = tmpl.Render(decodeFields(t, `{"host":"db"}`))

	var renderErr *template.Error
	if !errors.As(err, &renderErr) {
		t.Fatalf("Render error %v is not a *template.Error", err)
	}
	if renderErr.Op != "render" {
		t.Errorf("Op = %q, want render", renderErr.Op)
	}
	if renderErr.Template != "app/db.conf" {
		t.Errorf("Template = %q, want app/db.conf", renderErr.Template)
	}
	if renderErr.Line != 2 {
		t.Errorf("Line = %d, want 2", renderErr.Line)
	}
	if renderErr.Column != 9 {
		t.Errorf("Column = %d, want 9 (the dot of .password)", renderErr.Column)
	}
	if renderErr.Context != ".password" {
		t.Errorf("Context = %q, want .password", renderErr.Context)
	}
	want := `render template "app/db.conf": line 2, column 9: <.password>: missing field "password" (available fields: "host")`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestRenameErrorNamesNewName(t *testing.T) {
	tmpl, err := template.Parse("a.conf", "host={{ .host }}\npass={{ .password }}")
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	renamed := tmpl.Rename("b.conf")

	if renamed.Name() != "b.conf" {
		t.Errorf("Name() = %q, want b.conf", renamed.Name())
	}
	if tmpl.Name() != "a.conf" {
		t.Errorf("Name() of the original = %q after Rename, want a.conf", tmpl.Name())
	}
	if !slices.Equal(renamed.Fields(), tmpl.Fields()) {
		t.Errorf("Fields() = %v, want %v", renamed.Fields(), tmpl.Fields())
	}
	output, err := renamed.Render(decodeFields(t, `{"host":"db","password":"pw"}`))
	if err != nil || string(output) != "host=db\npass=pw" {
		t.Errorf("Render = %q, %v; want %q", output, err, "host=db\npass=pw")
	}
	_, err = renamed.Render(decodeFields(t, `{"host":"db"}`))
	want := `render template "b.conf": line 2, column 9: <.password>: missing field "password" (available fields: "host")`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestRenderErrorNameWithPercent(t *testing.T) {
	const secret = "s3cr3t-in-range"
	tmpl, err := template.Parse("100%-done.tmpl", `{{ range .s }}{{ end }}`)
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	_, err = tmpl.Render(decodeFields(t, `{"s":"`+secret+`"}`))

	if err == nil {
		t.Fatal("Render succeeded, want an error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the value", err)
	}
	if !strings.HasPrefix(err.Error(), `render template "100%-done.tmpl": line 1, column `) {
		t.Errorf("error %q does not start with the name and position", err)
	}
	if strings.Contains(err.Error(), "%!") {
		t.Errorf("error %q contains a formatting artifact", err)
	}
}

func TestParseErrorNamesLine(t *testing.T) {
	cases := []struct {
		name string
		text string
		line int
		want string
	}{
		{"unknown function", "a\n{{ uper .x }}", 2, `parse template "bad.tmpl": line 2: function "uper" not defined`},
		{"env is not a helper", `{{ env "HOME" }}`, 1, `parse template "bad.tmpl": line 1: function "env" not defined`},
		{"unclosed action", "a\nb\n{{ .x", 3, `parse template "bad.tmpl": line 3: unclosed action`},
		{"unexpected end", "{{ end }}", 1, `parse template "bad.tmpl": line 1: unexpected {{end}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := template.Parse("bad.tmpl", tc.text)

			var parseErr *template.Error
			if !errors.As(err, &parseErr) {
				t.Fatalf("Parse(%q) error %v is not a *template.Error", tc.text, err)
			}
			if parseErr.Op != "parse" {
				t.Errorf("Op = %q, want parse", parseErr.Op)
			}
			if parseErr.Line != tc.line {
				t.Errorf("Line = %d, want %d", parseErr.Line, tc.line)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
		})
	}
}

func TestRenderHelperErrors(t *testing.T) {
	cases := []struct {
		name string
		text string
		data string
		want string
	}{
		{"base64decode invalid", `{{ base64decode .s }}`, `{"s":"!!!!"}`, "decode base64: illegal base64 data at input byte 0"},
		{"base64URLDecode invalid", `{{ base64URLDecode .s }}`, `{"s":"a+b/"}`, "decode base64: illegal base64 data"},
		{"upper of object", `{{ upper .o }}`, `{"o":{}}`, "expected a string, number or boolean, got object"},
		{"indent negative", `{{ indent -2 .s }}`, `{"s":"a"}`, "indent width must not be negative"},
		{"indent fraction", `{{ indent .w .s }}`, `{"w":1.5,"s":"a"}`, "expected an integer"},
		{"join object", `{{ join "," .o }}`, `{"o":{}}`, "expected a list, got object"},
		{"join nested element", `{{ join "," .l }}`, `{"l":["a",{}]}`, "element 1: expected a string"},
		{"contains object", `{{ contains "a" .o }}`, `{"o":{}}`, "expected a string or a list, got object"},
		{"index null", `{{ index .n "a" }}`, `{"n":null}`, "cannot index a null value"},
		{"index string", `{{ index .s "a" }}`, `{"s":"x"}`, "cannot look up a key in a string"},
		{"index list with string", `{{ index .l "a" }}`, `{"l":[]}`, "invalid list index: expected an integer, got string"},
		{"index list out of range", `{{ index .l 2 }}`, `{"l":[1]}`, "list index out of range for a list of length 1"},
		{"field of null", `{{ .n.a }}`, `{"n":null}`, `cannot read field "a" of a null value`},
		{"eq object and string", `{{ eq .o "a" }}`, `{"o":{}}`, "incompatible types for comparison: object and string"},
		{"eq two objects", `{{ eq .o .o }}`, `{"o":{}}`, "values of type object are not comparable"},
		{"lt booleans", `{{ lt .a .b }}`, `{"a":true,"b":false}`, "values of type boolean are not ordered"},
		{"lt number and string", `{{ lt .n "a" }}`, `{"n":1}`, "incompatible types for comparison: number and string"},
		{"range over string", `{{ range .s }}{{ end }}`, `{"s":"x"}`, "range can't iterate over this value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			output, err := render(t, tc.text, tc.data)
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", tc.text, output)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render(%q) error = %q, want it to contain %q", tc.text, err, tc.want)
			}
			if errors.Is(err, template.ErrMissingField) {
				t.Errorf("Render(%q) error %q wraps ErrMissingField", tc.text, err)
			}
		})
	}
}

func TestRenderBase64ErrorUnwraps(t *testing.T) {
	_, err := render(t, `{{ base64decode "@@@@" }}`, `{}`)

	var corrupt base64.CorruptInputError
	if !errors.As(err, &corrupt) {
		t.Errorf("Render error %v does not wrap base64.CorruptInputError", err)
	}
}

func TestRenderConcurrent(t *testing.T) {
	tmpl, err := template.Parse("concurrent.tmpl", `{{ .user }}:{{ .password | base64encode }}:{{ toJSON .meta }}`)
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}

	const goroutines = 32
	const renders = 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := fmt.Sprintf(`{"user":"u%d","password":"p%d","meta":{"n":%d,"z":[%d]}}`, g, g, g, g)
			fields := decodeFields(t, data)
			want := fmt.Sprintf(`u%d:%s:{"n":%d,"z":[%d]}`, g, base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "p%d", g)), g, g)
			for range renders {
				output, err := tmpl.Render(fields)
				if err != nil {
					errs <- err
					return
				}
				if string(output) != want {
					errs <- fmt.Errorf("goroutine %d got %q, want %q", g, output, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRenderOutputNotShared(t *testing.T) {
	tmpl, err := template.Parse("t", `{{ .a }}`)
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	first, err := tmpl.Render(decodeFields(t, `{"a":"first"}`))
	if err != nil {
		t.Fatalf("Render error: %v", err)
	}
	if _, err := tmpl.Render(decodeFields(t, `{"a":"second"}`)); err != nil {
		t.Fatalf("Render error: %v", err)
	}
	if string(first) != "first" {
		t.Errorf("first output changed to %q after a second Render", first)
	}
}

func TestFields(t *testing.T) {
	cases := []struct {
		name string
		text string
		want []string
	}{
		{"none", `static`, []string{}},
		{"fields sorted and deduplicated", `{{ .b }}{{ .a }}{{ .b }}`, []string{"a", "b"}},
		{"nested field gives top level", `{{ .db.password }}`, []string{"db"}},
		{"index get has", `{{ index . "x" }}{{ get . "y" | default "d" }}{{ if has . "z" }}{{ end }}`, []string{"x", "y", "z"}},
		{"index path", `{{ index . "a" "b" }}`, []string{"a"}},
		{"index on nested ignores key", `{{ index .a "b" }}`, []string{"a"}},
		{"root variable", `{{ range .l }}{{ $.p }}{{ index $ "q" }}{{ end }}`, []string{"l", "p", "q"}},
		{"range body dot is element", `{{ range .l }}{{ .name }}{{ end }}`, []string{"l"}},
		{"with body dot is value", `{{ with .a }}{{ .b }}{{ else }}{{ .c }}{{ end }}`, []string{"a", "c"}},
		{"if keeps dot", `{{ if .a }}{{ .b }}{{ else }}{{ .c }}{{ end }}`, []string{"a", "b", "c"}},
		{"arguments and pipelines", `{{ printf "%s" (upper .a) | trimPrefix .b }}`, []string{"a", "b"}},
		{"variable declaration", `{{ $x := .a }}{{ $x.b }}`, []string{"a"}},
		{"defined template with root", `{{ define "t" }}{{ .inner }}{{ end }}{{ template "t" . }}`, []string{"inner"}},
		{"defined template with other dot", `{{ define "t" }}{{ .inner }}{{ end }}{{ template "t" .a }}`, []string{"a"}},
		{"recursive template", `{{ define "t" }}{{ .x }}{{ template "t" . }}{{ end }}`, []string{}},
		{"dynamic key skipped", `{{ index . .k }}`, []string{"k"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.Parse("fields.tmpl", tc.text)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tc.text, err)
			}
			if got := tmpl.Fields(); !slices.Equal(got, tc.want) {
				t.Errorf("Fields() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFieldsReturnsCopy(t *testing.T) {
	tmpl, err := template.Parse("t", `{{ .a }}`)
	if err != nil {
		t.Fatalf("Parse error: %v", err)
	}
	tmpl.Fields()[0] = "changed"
	if got := tmpl.Fields(); got[0] != "a" {
		t.Errorf("Fields() = %q after changing a returned slice, want [a]", got)
	}
}

func TestFieldValue(t *testing.T) {
	fields := decodeFields(t, `{
		"s": "line1\nline2\n",
		"ts": 1754110382,
		"price": 3.50,
		"yes": true,
		"no": false,
		"null": null,
		"obj": {"b": "&<>", "a": [1, 2.50]},
		"list": ["x", null]
	}`)
	cases := []struct {
		name string
		want string
	}{
		{"s", "line1\nline2\n"},
		{"ts", "1754110382"},
		{"price", "3.50"},
		{"yes", "true"},
		{"no", "false"},
		{"null", ""},
		{"obj", `{"a":[1,2.50],"b":"&<>"}`},
		{"list", `["x",null]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := template.FieldValue(fields, tc.name)
			if err != nil {
				t.Fatalf("FieldValue(%q) error: %v", tc.name, err)
			}
			if string(got) != tc.want {
				t.Errorf("FieldValue(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestFieldValueMissing(t *testing.T) {
	fields := decodeFields(t, `{"password":"s3cr3t","user":"admin"}`)
	_, err := template.FieldValue(fields, "pasword")

	if !errors.Is(err, template.ErrMissingField) {
		t.Fatalf("FieldValue error %v does not wrap ErrMissingField", err)
	}
	want := `missing field "pasword" (available fields: "password", "user")`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestFieldValueFloat(t *testing.T) {
	// A caller that forgot UseNumber passes float64.
	got, err := template.FieldValue(map[string]any{"n": float64(1754110382)}, "n")
	if err != nil {
		t.Fatalf("FieldValue error: %v", err)
	}
	if string(got) != "1754110382" {
		t.Errorf("FieldValue = %q, want 1754110382", got)
	}
}

func BenchmarkRender(b *testing.B) {
	tmpl, err := template.Parse("bench.tmpl", "user={{ .username }}\npassword={{ .password }}\n")
	if err != nil {
		b.Fatalf("Parse error: %v", err)
	}
	fields := decodeFields(b, `{"username":"app","password":"correct-horse-battery-staple"}`)

	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(fields); err != nil {
			b.Fatalf("Render error: %v", err)
		}
	}
}
