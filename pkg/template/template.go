package template

import (
	"bytes"
	"maps"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
)

// Template is a parsed template. Render may be called concurrently from many
// goroutines on one Template.
type Template struct {
	name string
	// internalName is the name given to text/template. It differs from
	// name when name contains '%', which text/template would read as a
	// formatting verb in its error messages.
	internalName string
	// text is the template source, which render errors need to turn a
	// line and column back into a position.
	text   string
	tmpl   *template.Template
	fields []string
	// literalIndexCalls contains the positions of the index calls whose keys
	// are all literals. Only their missing keys are named in errors.
	literalIndexCalls map[parse.Pos]bool
}

// maxPooledBuffer is the largest output buffer that Render keeps for reuse,
// so that one large file does not pin its buffer for the rest of the run.
const maxPooledBuffer = 64 << 10

var bufferPool = sync.Pool{
	New: func() any { return new(bytes.Buffer) },
}

// Parse parses text as a text/template template with the helpers listed in the
// package documentation. A parse error is an *Error that names the template
// and the line.
func Parse(name, text string) (*Template, error) {
	return parseWithFuncs(name, text, nil)
}

// parseWithFuncs is Parse with extra helpers, which tests use to add helpers
// that fail in ways the real helpers do not.
func parseWithFuncs(name, text string, extraFuncs template.FuncMap) (*Template, error) {
	internalName := strings.ReplaceAll(name, "%", "_")
	funcs := helperFuncs
	if extraFuncs != nil {
		funcs = maps.Clone(helperFuncs)
		maps.Copy(funcs, extraFuncs)
	}
	tmpl := template.New(internalName).Option("missingkey=error").Funcs(calledFuncs(text, funcs))
	if _, err := tmpl.Parse(text); err != nil {
		return nil, parseError(name, internalName, err)
	}

	for _, associated := range tmpl.Templates() {
		if associated.Tree != nil {
			addPrintCommands(associated.Tree, associated.Tree.Root)
		}
	}

	return &Template{
		name:              name,
		internalName:      internalName,
		text:              text,
		tmpl:              tmpl,
		fields:            collectFields(tmpl),
		literalIndexCalls: findLiteralIndexCalls(tmpl),
	}, nil
}

// calledFuncs returns the functions of funcs that text calls, and the print
// helper that Parse adds to every action. Funcs copies the whole map into
// each template, about 5 KB for the helpers, so a config with thousands of
// files would otherwise hold megabytes of copies. When text does not parse,
// calledFuncs returns all of funcs, and Parse then reports the error as it
// would have.
func calledFuncs(text string, funcs template.FuncMap) template.FuncMap {
	scan := parse.New("scan")
	scan.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := scan.Parse(text, "", "", trees); err != nil {
		return funcs
	}
	called := template.FuncMap{printFuncName: funcs[printFuncName]}
	for _, tree := range trees {
		visitIdentifiers(tree.Root, func(name string) {
			if f, ok := funcs[name]; ok {
				called[name] = f
			}
		})
	}
	return called
}

// visitIdentifiers calls visit with the name of every function identifier
// under node.
func visitIdentifiers(node parse.Node, visit func(string)) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, child := range n.Nodes {
			visitIdentifiers(child, visit)
		}
	case *parse.ActionNode:
		visitIdentifiers(n.Pipe, visit)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, command := range n.Cmds {
			visitIdentifiers(command, visit)
		}
	case *parse.CommandNode:
		for _, arg := range n.Args {
			visitIdentifiers(arg, visit)
		}
	case *parse.ChainNode:
		visitIdentifiers(n.Node, visit)
	case *parse.IdentifierNode:
		visit(n.Ident)
	case *parse.IfNode:
		visitBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		visitBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		visitBranch(&n.BranchNode, visit)
	case *parse.TemplateNode:
		visitIdentifiers(n.Pipe, visit)
	}
}

func visitBranch(n *parse.BranchNode, visit func(string)) {
	visitIdentifiers(n.Pipe, visit)
	visitIdentifiers(n.List, visit)
	visitIdentifiers(n.ElseList, visit)
}

// Name returns the name given to Parse or Rename.
func (t *Template) Name() string {
	return t.name
}

// Source returns the text that was parsed. Two templates with the same
// source render alike.
func (t *Template) Source() string {
	return t.text
}

// Rename returns a template that renders exactly like t and names name in
// its errors. The two share t's parsed form, so a config that uses one
// template text for thousands of files parses it once and keeps one copy.
func (t *Template) Rename(name string) *Template {
	renamed := *t
	renamed.name = name
	return &renamed
}

// Render executes the template over the fields of one secret and returns the
// bytes it produced, with nothing added. fields should come from a
// json.Decoder with UseNumber, so that numbers keep their written form.
//
// A field that the template reads with .name or index and that fields lacks
// is an *Error wrapping a *MissingFieldError and ErrMissingField. Every error
// is an *Error, and none contains a secret value. A panic during execution is
// returned as an error.
func (t *Template) Render(fields map[string]any) (output []byte, err error) {
	buf := bufferPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			bufferPool.Put(buf)
		}
	}()
	defer func() {
		if recovered := recover(); recovered != nil {
			output = nil
			err = &Error{Op: "render", Template: t.name, Err: panicError(recovered)}
		}
	}()

	if err := t.tmpl.Execute(buf, fields); err != nil {
		return nil, t.renderError(err, fields)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// Fields returns the top-level field names that the template references
// statically, sorted and without duplicates. It finds .name and $.name, and
// index, get and has with the root object and a string literal as their
// first two arguments. It skips references inside range and with bodies,
// where dot is another value, and references through variables.
func (t *Template) Fields() []string {
	return append([]string(nil), t.fields...)
}
