package template

import (
	"errors"
	"strings"
	"testing"
	"text/template"
)

func TestRenderHelperPanic(t *testing.T) {
	cases := []struct {
		name  string
		funcs template.FuncMap
	}{
		{"panic with string", template.FuncMap{"boom": func() string { panic("helper failed") }}},
		{"panic with runtime error", template.FuncMap{"boom": func() string {
			var m map[string]int
			m["x"] = 1
			return ""
		}}},
		{"panic with error", template.FuncMap{"boom": func() string { panic(errors.New("helper failed")) }}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parseWithFuncs("panic.tmpl", `a{{ boom }}b`, tc.funcs)
			if err != nil {
				t.Fatalf("parse error: %v", err)
			}
			output, err := tmpl.Render(map[string]any{})
			if err == nil {
				t.Fatalf("Render = %q, want an error", output)
			}
			if output != nil {
				t.Errorf("Render output = %q, want nil", output)
			}
			if !strings.HasPrefix(err.Error(), `render template "panic.tmpl"`) {
				t.Errorf("error %q does not name the template", err)
			}
		})
	}
}

func TestPanicErrorHidesValue(t *testing.T) {
	err := panicError("s3cr3t")
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("panicError(%q) = %q, want the value withheld", "s3cr3t", err)
	}
}

func TestSplitLocation(t *testing.T) {
	cases := []struct {
		message string
		line    int
		column  int
		rest    string
	}{
		{"template: t:3: unclosed action", 3, -1, "unclosed action"},
		{"template: t:2:7: executing \"t\" at <.x>: boom", 2, 7, "executing \"t\" at <.x>: boom"},
		{"template: t: \"t\" is an incomplete or empty template", 0, -1, "\"t\" is an incomplete or empty template"},
		{"template: other:1: x", 0, -1, "template: other:1: x"},
		{"unrelated message", 0, -1, "unrelated message"},
		{"template: t:x: y", 0, -1, "template: t:x: y"},
	}
	for _, tc := range cases {
		line, column, rest := splitLocation(tc.message, "t")
		if line != tc.line || column != tc.column || rest != tc.rest {
			t.Errorf("splitLocation(%q) = %d, %d, %q, want %d, %d, %q",
				tc.message, line, column, rest, tc.line, tc.column, tc.rest)
		}
	}
}

func TestSplitContext(t *testing.T) {
	cases := []struct {
		message string
		context string
		rest    string
	}{
		{`executing "t" at <.x>: map has no entry for key "x"`, ".x", `map has no entry for key "x"`},
		{`executing "a \"b\"" at <index . "k">: boom`, `index . "k"`, "boom"},
		{`something else`, "", "something else"},
		{`executing "t" without context`, "", `executing "t" without context`},
	}
	for _, tc := range cases {
		context, rest := splitContext(tc.message)
		if context != tc.context || rest != tc.rest {
			t.Errorf("splitContext(%q) = %q, %q, want %q, %q", tc.message, context, rest, tc.context, tc.rest)
		}
	}
}

func TestCalledFuncsFindsEveryPosition(t *testing.T) {
	text := `{{ upper .a }}{{ if has . "b" }}{{ .b | lower }}{{ else if eq .c "x" }}{{ quote .c }}{{ end }}` +
		`{{ range split .d "," }}{{ trim . }}{{ end }}{{ with get . "e" }}{{ default "none" . }}{{ else }}{{ squote "f" }}{{ end }}` +
		`{{ define "inner" }}{{ toJSON . }}{{ end }}{{ template "inner" (index . "g") }}{{ (base64decode .h).x }}`
	called := calledFuncs(text, helperFuncs)
	for _, name := range []string{printFuncName, "upper", "has", "lower", "eq", "quote", "split", "trim", "get", "default",
		"squote", "toJSON", "index", "base64decode"} {
		if _, ok := called[name]; !ok {
			t.Errorf("calledFuncs misses %q", name)
		}
	}
	if _, ok := called["toYAML"]; ok {
		t.Errorf("calledFuncs returns toYAML, which the template does not call")
	}
}

func TestCalledFuncsUnparsableText(t *testing.T) {
	called := calledFuncs(`{{ if .a }}`, helperFuncs)
	if len(called) != len(helperFuncs) {
		t.Errorf("calledFuncs returned %d functions for text that does not parse, want all %d", len(called), len(helperFuncs))
	}
}
