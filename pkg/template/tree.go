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

// fieldCollector gathers the top-level field names that a template reads. Its
// methods take atRoot, which is true where dot is the root object.
type fieldCollector struct {
	tmpl  *template.Template
	names map[string]struct{}
	// walked contains the associated templates already walked with the root
	// as dot, which stops recursion between templates.
	walked map[string]bool
}

func collectFields(tmpl *template.Template) []string {
	c := &fieldCollector{
		tmpl:   tmpl,
		names:  map[string]struct{}{},
		walked: map[string]bool{tmpl.Name(): true},
	}
	if tmpl.Tree != nil {
		c.walk(tmpl.Tree.Root, true)
	}

	names := make([]string, 0, len(c.names))
	for name := range c.names {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
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
		c.names[key.Text] = struct{}{}
	}
}

func (c *fieldCollector) argument(node parse.Node, atRoot bool) {
	switch n := node.(type) {
	case *parse.FieldNode:
		if atRoot {
			c.names[n.Ident[0]] = struct{}{}
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			c.names[n.Ident[1]] = struct{}{}
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
