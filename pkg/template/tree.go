package template

import (
	"slices"
	"text/template"
	"text/template/parse"
)

// addPrintCommands appends a call to the print helper to the pipeline of every
// action that produces output. text/template would print a JSON null as
// "<no value>" and an object as Go map syntax, so the helper formats the final
// value of the pipeline instead. Actions that declare or assign a variable
// produce no output and stay unchanged.
func addPrintCommands(tree *parse.Tree, node parse.Node) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, child := range n.Nodes {
			addPrintCommands(tree, child)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 {
			return
		}
		identifier := parse.NewIdentifier(printFuncName).SetTree(tree).SetPos(n.Pos)
		command := &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      n.Pos,
			Args:     []parse.Node{identifier},
		}
		n.Pipe.Cmds = append(n.Pipe.Cmds, command)
	case *parse.IfNode:
		addPrintCommands(tree, n.List)
		addPrintCommands(tree, n.ElseList)
	case *parse.RangeNode:
		addPrintCommands(tree, n.List)
		addPrintCommands(tree, n.ElseList)
	case *parse.WithNode:
		addPrintCommands(tree, n.List)
		addPrintCommands(tree, n.ElseList)
	}
}

// fieldCollector walks the references of a template to fields of the root
// object. Its methods take atRoot, which is true where dot is the root
// object.
type fieldCollector struct {
	tmpl *template.Template
	// visit receives each reference: the position of its node and its
	// chain of keys, such as [db password] for .db.password. A lookup call
	// such as index . "db" gives a chain of one key.
	visit func(pos parse.Pos, chain []string)
	// walked contains the associated templates already walked with the root
	// as dot, which stops recursion between templates.
	walked map[string]bool
}

func newFieldCollector(tmpl *template.Template, visit func(parse.Pos, []string)) *fieldCollector {
	return &fieldCollector{tmpl: tmpl, visit: visit, walked: map[string]bool{tmpl.Name(): true}}
}

func collectFields(tmpl *template.Template) []string {
	seen := map[string]struct{}{}
	c := newFieldCollector(tmpl, func(_ parse.Pos, chain []string) {
		seen[chain[0]] = struct{}{}
	})
	if tmpl.Tree != nil {
		c.walk(tmpl.Tree.Root, true)
	}

	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// rootChainAt returns the chain of keys of the reference to a field of the
// root object at pos, found as collectFields finds them, or nil when there
// is no such reference at pos.
func rootChainAt(tmpl *template.Template, pos parse.Pos) []string {
	var found []string
	c := newFieldCollector(tmpl, func(at parse.Pos, chain []string) {
		if at == pos && found == nil {
			found = chain
		}
	})
	if tmpl.Tree != nil {
		c.walk(tmpl.Tree.Root, true)
	}
	return found
}

func (c *fieldCollector) walk(node parse.Node, atRoot bool) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, child := range n.Nodes {
			c.walk(child, atRoot)
		}
	case *parse.ActionNode:
		c.pipe(n.Pipe, atRoot)
	case *parse.IfNode:
		c.pipe(n.Pipe, atRoot)
		c.walk(n.List, atRoot)
		c.walk(n.ElseList, atRoot)
	case *parse.RangeNode:
		c.pipe(n.Pipe, atRoot)
		c.walk(n.List, false)
		c.walk(n.ElseList, atRoot)
	case *parse.WithNode:
		c.pipe(n.Pipe, atRoot)
		c.walk(n.List, false)
		c.walk(n.ElseList, atRoot)
	case *parse.TemplateNode:
		c.pipe(n.Pipe, atRoot)
		c.template(n, atRoot)
	}
}

// template walks the template that a {{template}} action runs when the action
// passes the root object as its dot.
func (c *fieldCollector) template(n *parse.TemplateNode, atRoot bool) {
	if n.Pipe == nil || len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 {
		return
	}
	args := n.Pipe.Cmds[0].Args
	if len(args) != 1 || !isRoot(args[0], atRoot) || c.walked[n.Name] {
		return
	}
	c.walked[n.Name] = true
	if called := c.tmpl.Lookup(n.Name); called != nil && called.Tree != nil {
		c.walk(called.Tree.Root, true)
	}
}

func (c *fieldCollector) pipe(pipe *parse.PipeNode, atRoot bool) {
	if pipe == nil {
		return
	}
	for _, command := range pipe.Cmds {
		c.lookupCall(command.Args, atRoot)
		for _, arg := range command.Args {
			c.argument(arg, atRoot)
		}
	}
}

// lookupCall records the key of index, get or has called on the root object
// with a string literal key.
func (c *fieldCollector) lookupCall(args []parse.Node, atRoot bool) {
	if len(args) < 3 {
		return
	}
	function, ok := args[0].(*parse.IdentifierNode)
	if !ok {
		return
	}
	switch function.Ident {
	case "index", "get", "has":
	default:
		return
	}
	if key, ok := args[2].(*parse.StringNode); ok && isRoot(args[1], atRoot) {
		c.visit(key.Pos, []string{key.Text})
	}
}

func (c *fieldCollector) argument(node parse.Node, atRoot bool) {
	switch n := node.(type) {
	case *parse.FieldNode:
		if atRoot {
			c.visit(n.Pos, n.Ident)
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			c.visit(n.Pos, n.Ident[1:])
		}
	case *parse.PipeNode:
		c.pipe(n, atRoot)
	case *parse.ChainNode:
		c.argument(n.Node, atRoot)
	}
}

// isRoot reports whether node evaluates to the root object: "." where dot is
// the root, or "$".
func isRoot(node parse.Node, atRoot bool) bool {
	switch n := node.(type) {
	case *parse.DotNode:
		return atRoot
	case *parse.VariableNode:
		return len(n.Ident) == 1 && n.Ident[0] == "$"
	}
	return false
}

// findLiteralIndexCalls returns the positions of the index commands in all
// associated templates whose keys are all string or number literals.
func findLiteralIndexCalls(tmpl *template.Template) map[parse.Pos]bool {
	positions := map[parse.Pos]bool{}
	visit := func(command *parse.CommandNode) {
		function, ok := command.Args[0].(*parse.IdentifierNode)
		if !ok || function.Ident != "index" || len(command.Args) < 3 {
			return
		}
		for _, key := range command.Args[2:] {
			switch key.(type) {
			case *parse.StringNode, *parse.NumberNode:
			default:
				return
			}
		}
		positions[command.Pos] = true
	}
	for _, associated := range tmpl.Templates() {
		if associated.Tree != nil {
			forEachCommand(associated.Tree.Root, visit)
		}
	}
	return positions
}

// forEachCommand calls visit for every command in node, including commands
// in control structures and in parenthesized arguments.
func forEachCommand(node parse.Node, visit func(*parse.CommandNode)) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, child := range n.Nodes {
			forEachCommand(child, visit)
		}
	case *parse.ActionNode:
		forEachCommand(n.Pipe, visit)
	case *parse.IfNode:
		forEachCommand(n.Pipe, visit)
		forEachCommand(n.List, visit)
		forEachCommand(n.ElseList, visit)
	case *parse.RangeNode:
		forEachCommand(n.Pipe, visit)
		forEachCommand(n.List, visit)
		forEachCommand(n.ElseList, visit)
	case *parse.WithNode:
		forEachCommand(n.Pipe, visit)
		forEachCommand(n.List, visit)
		forEachCommand(n.ElseList, visit)
	case *parse.TemplateNode:
		forEachCommand(n.Pipe, visit)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, command := range n.Cmds {
			if len(command.Args) > 0 {
				visit(command)
			}
			for _, arg := range command.Args {
				forEachCommand(arg, visit)
			}
		}
	case *parse.ChainNode:
		forEachCommand(n.Node, visit)
	}
}
