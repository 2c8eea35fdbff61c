package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// withPieceSize sets splitPieceSize for one test, so that small files are
// cut into several pieces.
func withPieceSize(t *testing.T, size int) {
	t.Helper()
	old := splitPieceSize
	splitPieceSize = size
	t.Cleanup(func() { splitPieceSize = old })
}

// loadSummary returns the config and problems of one load as text, with
// the name of each file's template, since templates do not marshal.
func loadSummary(t *testing.T, cfg *Config, problems Problems) string {
	t.Helper()
	out, err := json.Marshal(struct {
		Config   *Config
		Problems Problems
	}{cfg, problems})
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, s := range cfg.Secrets {
		for _, f := range s.Files {
			if f.Tmpl != nil {
				text += "\n" + f.Tmpl.Name()
			}
		}
	}
	return text
}

const splitStore = `secretStore:
  address: http://127.0.0.1:8200
  token: ${VAULT_TOKEN}
`

// splitCases are files whose secrets list can be cut, or looks as if it
// could, with what the cut must get right.
var splitCases = []struct {
	name, text string
	split      bool // whether decodeSplit succeeds with pieces of one item
}{
	{"flow items", splitStore + `secrets:
  - {name: a, key: app/a, files: [{path: /tmp/split/a, template: "{{ .password }}"}]}
  - {name: b, key: app/b, files: [{path: /tmp/split/b, field: password}]}
  - {name: c, key: app/c, files: [{path: /tmp/split/c, field: password}]}
`, true},
	{"block items at indent 0 with a key after", splitStore + `secrets:
- name: a
  key: app/a
  files:
  - path: /tmp/split/a
    field: password
# a comment at column 1
- name: b
  key: app/b

  files: [{path: /tmp/split/b, field: password, mode: "0644"}]
defaults:
  refreshInterval: 2m
`, true},
	{"block scalar with item lines", splitStore + `secrets: # the list
    - name: a
      key: app/a
      template:
        data:
          a: |
            - not an item
            {{ .a }
      files:
        - path: /tmp/split/a
    - name: a
      key: app/b
      files: [{path: /tmp/split/a, field: password}]`, true},
	{"alias inside one item", splitStore + `secrets:
  - name: a
    key: &k app/a
    path: *k
    files: [{path: /tmp/split/a, field: password}]
  - name: b
    key: app/b
    files: [{path: /tmp/split/b, field: password}]
`, true},
	{"problems in several items", splitStore + `secrets:
  - name: a
    kye: app/a
    files: [{path: /tmp/split/a, field: password, mode: 600}]
  - name: b
    key: ${UNSET_IN_SPLIT_TESTS}
    files: [{path: /tmp/split/b}]
  - name: c
    key: app/c
    refreshInterval: 5
    files: []
`, true},
	{"alias to an item in another piece", splitStore + `secrets:
  - &a
    name: a
    key: app/a
    files: [{path: /tmp/split/a, field: password}]
  - *a
`, false},
	{"alias after the list to an anchor redefined in it", `secretStore:
  address: http://127.0.0.1:8200
  token: ${VAULT_TOKEN}
  mountPath: &m kv
secrets:
  - name: a
    key: app/a
    mountPath: &m other
    files: [{path: /tmp/split/a, field: password}]
defaults:
  mountPath: *m
`, false},
	{"quoted scalar across an item line", splitStore + `secrets:
  - name: a
    key: "app/a
  - b"
    files: [{path: /tmp/split/a, field: password}]
`, false},
	{"flow list across an item line", splitStore + `secrets:
  - name: a
    key: app/a
    files: [{path: /tmp/split/a,
  - field: password}]
`, false},
	{"syntax error in an item", splitStore + `secrets:
  - name: a
    key: app/a
    files: [{path: /tmp/split/a, field: password}
  - name: b
`, false},
	{"list indented less than its items", splitStore + `secrets:
    - name: a
      key: app/a
      files: [{path: /tmp/split/a, field: password}]
  other: x
`, false},
	{"second secrets key", splitStore + `secrets:
  - {name: a, key: app/a, files: [{path: /tmp/split/a, field: password}]}
secrets:
  - {name: b, key: app/b, files: [{path: /tmp/split/b, field: password}]}
`, true},
	{"item text at the list's indent", splitStore + `secrets:
  - {name: a, key: app/a, files: [{path: /tmp/split/a, field: password}]}
  -name: b
`, false},
	{"quoted secrets key before a broken list", splitStore + `"secrets": []
secrets:
  - {name: a, key: app/a
`, false},
	{"flow mapping at the top", `{secretStore: {address: "http://127.0.0.1:8200", token: x},
secrets:
  - {name: a, key: app/a, files: [{path: /tmp/split/a, field: password}]}
}
`, false},
	{"second document", splitStore + `secrets:
  - {name: a, key: app/a, files: [{path: /tmp/split/a, field: password}]}
---
secrets: []
`, false},
	{"secrets key inside a quoted scalar", `secretStore: {address: "http://127.0.0.1:8200
secrets:
  - a", token: x}
`, false},
}

func TestSplitMatchesWholeFile(t *testing.T) {
	for _, size := range []int{1, 200, splitPieceSize} {
		withPieceSize(t, size)
		for _, c := range splitCases {
			t.Run(c.name, func(t *testing.T) {
				work := t.TempDir()
				opts := Options{Lookup: envOf("VAULT_TOKEN", "t"), WorkDir: work, HomeDir: work}
				d := &decoder{file: "test.yaml", text: []byte(c.text), lookup: opts.Lookup}
				if _, ok := d.decodeSplit(); size == 1 && ok != c.split {
					t.Errorf("decodeSplit = %t, want %t", ok, c.split)
				}
				splitCfg, splitProblems := parse("test.yaml", []byte(c.text), opts, true)
				wholeCfg, wholeProblems := parse("test.yaml", []byte(c.text), opts, false)
				got, want := loadSummary(t, splitCfg, splitProblems), loadSummary(t, wholeCfg, wholeProblems)
				if got != want {
					t.Errorf("piece size %d: load with the list cut differs from the whole file:\ngot  %s\nwant %s", size, got, want)
				}
			})
		}
	}
}

func TestSplitSecretsListPieces(t *testing.T) {
	text := benchConfig(100, "/tmp/split")
	s, ok := splitSecretsList(text, 1000)
	if !ok {
		t.Fatal("splitSecretsList rejected a list in the benchmark's shape")
	}
	if s.items != 100 {
		t.Errorf("items = %d, want 100", s.items)
	}
	if s.keyLine != 3 || s.at != (Position{Line: 4, Column: 3}) {
		t.Errorf("key line %d and list at %v, want 3 and 4:3", s.keyLine, s.at)
	}
	if len(s.pieces) < 5 {
		t.Errorf("%d pieces of about 1,000 bytes for %d bytes of list, want 5 or more", len(s.pieces), s.end-s.start)
	}
	end := s.start
	for i, p := range s.pieces {
		if p.start != end {
			t.Errorf("piece %d starts at %d, want %d where the one before ends", i, p.start, end)
		}
		if !strings.HasPrefix(string(text[p.start:p.end]), "  - {name: ") {
			t.Errorf("piece %d does not start with an item: %.30q", i, text[p.start:p.end])
		}
		end = p.end
	}
	if end != len(text) {
		t.Errorf("pieces end at %d, want %d, the end of the file", end, len(text))
	}
}

func TestSplitSecretsListRejects(t *testing.T) {
	item := "  - {name: a, key: app/a, files: [{path: /tmp/split/a, field: password}]}\n"
	cases := []struct{ name, text string }{
		{"no secrets key", splitStore},
		{"empty list", splitStore + "secrets:\ndefaults: {}\n"},
		{"flow list", splitStore + "secrets: [{name: a}]\n"},
		{"anchor on the list", splitStore + "secrets: &s\n" + item},
		{"CRLF line ends", strings.ReplaceAll(splitStore+"secrets:\n"+item, "\n", "\r\n")},
		{"byte order mark", "\xef\xbb\xbf" + splitStore + "secrets:\n" + item},
		{"tab in the indentation", splitStore + "secrets:\n" + item + "\t  - {name: b}\n"},
		{"directive", "%YAML 1.1\n---\n" + splitStore + "secrets:\n" + item},
		{"line longer than the limit", splitStore + "secrets:\n" + item + "  - {name: " + strings.Repeat("b", maxSplitLine) + "}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := splitSecretsList([]byte(c.text), splitPieceSize); ok {
				t.Errorf("splitSecretsList accepted:\n%s", c.text)
			}
		})
	}
}

// pieceList returns the text of a list of n items and its pieces, one item
// each.
func pieceList(n int) ([]byte, []listPiece) {
	var b strings.Builder
	var pieces []listPiece
	for i := range n {
		start := b.Len()
		fmt.Fprintf(&b, "- {name: s%d}\n", i)
		pieces = append(pieces, listPiece{start: start, end: b.Len(), line: i + 1})
	}
	return []byte(b.String()), pieces
}

func TestParsePiecesHandsOutListsInOrder(t *testing.T) {
	text, pieces := pieceList(60)
	parsed := parsePieces(text, pieces)
	for i := range pieces {
		list := parsed.next()
		if list == nil {
			t.Fatalf("piece %d did not parse", i)
		}
		item := list.Content[0]
		if item.Line != i+1 {
			t.Errorf("piece %d: item on line %d, want %d", i, item.Line, i+1)
		}
		if name := item.Content[1].Value; name != fmt.Sprintf("s%d", i) {
			t.Errorf("piece %d: name %q, want s%d", i, name, i)
		}
	}
	parsed.stop()
	parsed.workers.Wait()
}

// TestParsePiecesStopsAfterABadPiece checks that a piece that is not a
// list on its own comes out as nil in its place, and that stop ends the
// workers although most pieces were never taken.
func TestParsePiecesStopsAfterABadPiece(t *testing.T) {
	text, pieces := pieceList(60)
	// The second piece starts inside a flow mapping of the first.
	pieces[1].start -= 3
	parsed := parsePieces(text, pieces)
	if parsed.next() == nil {
		t.Fatal("the first piece did not parse")
	}
	if list := parsed.next(); list != nil {
		t.Fatalf("the cut piece parsed as a list of %d items", len(list.Content))
	}
	parsed.stop()
	parsed.workers.Wait()
}
