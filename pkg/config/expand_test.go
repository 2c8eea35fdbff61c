package config

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "DOLLAR": "$x"}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	cases := []struct {
		in, want string
		unset    []string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "{{ $x := .a }}{{ $x }}", want: "{{ $x := .a }}{{ $x }}"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "${A:-fallback}", want: "alpha"},
		{in: "${DOLLAR}", want: "$x"},
		{in: "${MISSING}", want: "", unset: []string{"MISSING"}},
		{in: "trailing $", want: "trailing $"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, unset, err := expand(c.in, lookup)
			if err != nil {
				t.Fatalf("expand(%q) error: %v", c.in, err)
			}
			if len(c.unset) == 0 && got != c.want {
				t.Errorf("expand(%q) = %q, want %q", c.in, got, c.want)
			}
			if !reflect.DeepEqual(unset, c.unset) {
				t.Errorf("expand(%q) unset = %v, want %v", c.in, unset, c.unset)
			}
		})
	}
}

func TestExpandRejectsMalformed(t *testing.T) {
	for _, in := range []string{"${A", "${1X}", "${}", "${A B}"} {
		if _, _, err := expand(in, func(string) (string, bool) { return "", false }); err == nil {
			t.Errorf("expand(%q) returned no error", in)
		}
	}
}
