package template

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// ErrMissingField is wrapped by every error about a field that a template or
// FieldValue requires but the secret lacks.
var ErrMissingField = errors.New("missing field")

// maxListedFields caps the field names that a MissingFieldError message
// lists, so that an object with thousands of keys keeps the message short.
const maxListedFields = 20

// MissingFieldError is a field that a template or FieldValue requires but the
// secret lacks. It wraps ErrMissingField.
type MissingFieldError struct {
	// Field is the missing key. Render sets it to "" when the key comes
	// from data, as in index . .other, because it is then a secret value.
	Field string
	// Available contains the keys of the object that was searched, sorted.
	// It is nil when the object is unknown, as for a .field reference
	// inside range or with, where dot is not the root object.
	Available []string
}

func (e *MissingFieldError) Error() string {
	message := fmt.Sprintf("missing field %q", e.Field)
	if e.Field == "" {
		message = "missing field (the name is withheld because it comes from data)"
	}
	switch {
	case e.Available == nil:
		return message
	case len(e.Available) == 0:
		return message + " (the object has no fields)"
	}

	listed := e.Available
	if len(listed) > maxListedFields {
		listed = listed[:maxListedFields]
	}
	quoted := make([]string, len(listed))
	for i, name := range listed {
		quoted[i] = strconv.Quote(name)
	}
	list := strings.Join(quoted, ", ")
	if more := len(e.Available) - len(listed); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return message + " (available fields: " + list + ")"
}

func (e *MissingFieldError) Unwrap() error {
	return ErrMissingField
}

// Error is a failed parse or render of one template. Render builds it so that
// it contains no secret value. It rewrites the text/template messages that
// quote data and withholds a missing key that comes from data.
type Error struct {
	// Op is "parse" or "render".
	Op string
	// Template is the name given to Parse.
	Template string
	// Line is the 1-based line in the template text, or 0 when unknown.
	Line int
	// Column is the 1-based byte column within Line, or 0 when unknown.
	// text/template reports no column for parse errors.
	Column int
	// Context is the source of the node that failed, as text/template
	// prints it (".db.password", `index . "x"`), or "" when unknown.
	Context string
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" template ")
	b.WriteString(strconv.Quote(e.Template))
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
	}
	if e.Context != "" {
		b.WriteString(": <")
		b.WriteString(e.Context)
		b.WriteString(">")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error {
	return e.Err
}

// causeError is the part of a text/template message after its location. It
// keeps the error that a helper returned, so errors.Is and errors.As still see
// it.
type causeError struct {
	message string
	wrapped error
}

func (e *causeError) Error() string {
	return e.message
}

func (e *causeError) Unwrap() error {
	return e.wrapped
}

// parseError converts an error from text/template's Parse, whose message has
// the form "template: NAME:LINE: MESSAGE".
func parseError(name, internalName string, err error) *Error {
	line, _, message := splitLocation(err.Error(), internalName)
	return &Error{
		Op:       "parse",
		Template: name,
		Line:     line,
		Err:      errors.New(message),
	}
}

// renderError converts an error from text/template's Execute over fields.
// An ExecError message has the form
// `template: NAME:LINE:COLUMN: executing "NAME" at <CONTEXT>: MESSAGE`.
func (t *Template) renderError(err error, fields map[string]any) *Error {
	result := &Error{Op: "render", Template: t.name}

	var execErr template.ExecError
	if !errors.As(err, &execErr) || execErr.Err == nil {
		result.Err = &causeError{message: redactMessage(err.Error()), wrapped: nil}
		return result
	}

	line, column, rest := splitLocation(execErr.Err.Error(), t.internalName)
	result.Line = line
	if column >= 0 {
		// text/template counts columns from 0.
		result.Column = column + 1
	}
	result.Context, rest = splitContext(rest)
	cause := renderCause(rest, errors.Unwrap(execErr.Err))

	// The message of a failed index call repeats the missing key, so the
	// cause becomes the MissingFieldError alone, whose key can be withheld.
	// renderCause returns a MissingFieldError itself only for .name access,
	// whose key is always template text.
	var missing *MissingFieldError
	if fieldMissing, fromField := cause.(*MissingFieldError); fromField {
		fieldMissing.Available = t.searchedKeys(line, column, fieldMissing.Field, fields)
	} else if errors.As(cause, &missing) {
		if !t.isLiteralIndexCall(line, column) {
			missing.Field = ""
		}
		cause = missing
	}
	result.Err = cause
	return result
}

// isLiteralIndexCall reports whether the command at the 1-based line and
// 0-based column of the template text is an index call whose keys are all
// literals, so that a missing key is template text and not a data value.
func (t *Template) isLiteralIndexCall(line, column int) bool {
	pos, ok := t.position(line, column)
	return ok && t.literalIndexCalls[pos]
}

// searchedKeys returns the sorted keys of the object that lacks the key
// missing, for the .name or $.name reference at line and column, so that
// the error can list the names the secret has. It returns nil when the
// reference does not start at the root object, such as a .name inside
// range or with, because the object searched is then unknown.
func (t *Template) searchedKeys(line, column int, missing string, fields map[string]any) []string {
	pos, ok := t.position(line, column)
	if !ok {
		return nil
	}
	object := fields
	for _, key := range rootChainAt(t.tmpl, pos) {
		value, found := object[key]
		if !found {
			if key != missing {
				return nil
			}
			return sortedKeys(object)
		}
		if object, ok = value.(map[string]any); !ok {
			return nil
		}
	}
	return nil
}

// position converts a 1-based line and a 0-based byte column of the
// template text, as text/template reports them, to an offset in the text.
func (t *Template) position(line, column int) (parse.Pos, bool) {
	if line < 1 || column < 0 {
		return 0, false
	}
	offset := 0
	for range line - 1 {
		i := strings.IndexByte(t.text[offset:], '\n')
		if i < 0 {
			return 0, false
		}
		offset += i + 1
	}
	return parse.Pos(offset + column), true
}

// renderCause builds the cause of a render error from the message that
// follows the context. wrapped is the error that a helper returned, or nil.
func renderCause(message string, wrapped error) error {
	if quoted, ok := strings.CutPrefix(message, "map has no entry for key "); ok {
		if key, err := strconv.Unquote(quoted); err == nil {
			return &MissingFieldError{Field: key}
		}
	}

	if field, ok := strings.CutPrefix(message, "nil pointer evaluating interface {}."); ok {
		return fmt.Errorf("cannot read field %q of a null value", field)
	}

	redacted := redactMessage(message)
	if redacted != message {
		// Drop wrapped as well, because its text is the unredacted one.
		return errors.New(redacted)
	}
	return &causeError{message: message, wrapped: wrapped}
}

// valueQuotingMessages lists the text/template messages (Go 1.26
// text/template/exec.go) that end in a formatted data value, with the text
// that replaces the value. Comparison messages that print values are avoided
// instead, by replacing eq and ne with helpers that report types only.
var valueQuotingMessages = []struct {
	prefix      string
	suffix      string // when set, the message must also contain it
	replacement string
}{
	{"range can't iterate over ", "", "range can't iterate over this value: range needs a list, an object or an integer"},
	{"if/with can't use ", "", "if/with can't use a value of this type"},
	{"can't use ", "iterate over more than one variable", "range can't assign this value to more than one variable"},
	{"range over send-only channel ", "", "range over a send-only channel"},
}

// redactMessage cuts off the data value from a message that quotes one and
// returns the other messages unchanged.
func redactMessage(message string) string {
	for _, m := range valueQuotingMessages {
		i := strings.Index(message, m.prefix)
		if i < 0 || !strings.Contains(message[i:], m.suffix) {
			continue
		}
		return message[:i] + m.replacement
	}
	return message
}

// splitLocation removes the "template: NAME:LINE:COLUMN: " prefix, where
// COLUMN is absent in parse errors and both numbers are absent in some
// execution errors. It returns -1 for a number that is absent. A message in
// another form is returned whole.
func splitLocation(message, internalName string) (line, column int, rest string) {
	rest, ok := strings.CutPrefix(message, "template: "+internalName+":")
	if !ok {
		return 0, -1, message
	}
	if after, ok := strings.CutPrefix(rest, " "); ok {
		return 0, -1, after
	}

	line, rest, ok = cutNumber(rest)
	if !ok {
		return 0, -1, message
	}
	column = -1
	if after, ok := strings.CutPrefix(rest, ":"); ok {
		if n, afterNumber, ok := cutNumber(after); ok {
			column, rest = n, afterNumber
		}
	}
	if after, ok := strings.CutPrefix(rest, ": "); ok {
		return line, column, after
	}
	return 0, -1, message
}

// splitContext removes the `executing "NAME" at <CONTEXT>: ` part of an
// execution error message and returns CONTEXT and the rest.
func splitContext(message string) (context, rest string) {
	after, ok := strings.CutPrefix(message, "executing ")
	if !ok {
		return "", message
	}
	quoted, err := strconv.QuotedPrefix(after)
	if err != nil {
		return "", message
	}
	after, ok = strings.CutPrefix(after[len(quoted):], " at <")
	if !ok {
		return "", message
	}
	context, rest, ok = strings.Cut(after, ">: ")
	if !ok {
		return "", message
	}
	return context, rest
}

// cutNumber splits a leading decimal number from s.
func cutNumber(s string) (n int, rest string, ok bool) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, s, false
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0, s, false
	}
	return n, s[end:], true
}

// panicError describes a recovered panic without its value, unless the value
// is a runtime error, whose message contains types and indexes only.
func panicError(recovered any) error {
	if runtimeErr, ok := recovered.(runtime.Error); ok {
		return fmt.Errorf("internal error: %w", runtimeErr)
	}
	return fmt.Errorf("internal error: panic with a value of type %T", recovered)
}
