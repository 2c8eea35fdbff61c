// Package template renders the fields of one secret into file contents with
// Go's text/template syntax.
//
// A template is parsed once with [Parse] and rendered with
// [Template.Render] for each secret. Dot is the secret's data object, decoded
// from Vault or OpenBao JSON with json.Decoder.UseNumber. Field values are
// therefore string, json.Number, bool, nil, map[string]any or []any.
//
// # Values
//
// An action such as {{ .password }} prints:
//   - a string byte for byte, with no HTML escaping;
//   - a number exactly as written in the JSON, so 1754110382 stays 1754110382
//     and 3.50 stays 3.50;
//   - true or false;
//   - nothing for a JSON null;
//   - an object or list as compact JSON with sorted keys, never Go map syntax.
//
// Render adds nothing to the output, not even a trailing newline.
//
// A field that the secret lacks is an error wrapping [ErrMissingField], for
// {{ .x }}, {{ .a.b }}, {{ index . "x" }} and {{ index .a "b" }}. It never
// renders as "<no value>" or as an empty string. Use get or has to read a
// field that may be absent.
//
// Numbers in the data are json.Number values, which text/template treats as
// strings: in if, with, and, or and not, a number is true even when it is 0.
// The comparison helpers below compare numbers by value.
//
// # Helpers
//
// Besides the text/template builtins (and, or, not, len, print, printf,
// println, slice, call, html, js, urlquery), every template has these helpers.
// Helpers that take text accept a string, a number (as written), a boolean
// (true or false) or null (as ""), and reject an object or a list. Arguments
// are listed in call order, so {{ .x | f A }} passes .x as the last argument.
//
// Field access:
//   - index ITEM KEY...: ITEM[KEY]... for objects (string keys) and lists
//     (integer keys). A key that an object lacks is an error wrapping
//     ErrMissingField. This replaces the builtin index, which returns a zero
//     value.
//   - get ITEM KEY...: like index, but a missing key or a null along the path
//     returns null instead of an error. {{ get . "x" | default "none" }}
//     prints "none" when x is absent.
//   - has ITEM KEY...: whether the path of keys exists. A key whose value is
//     null exists. {{ if has . "x" }}...{{ end }}.
//   - default FALLBACK VALUE: FALLBACK when VALUE is null, "", an empty list
//     or an empty object, otherwise VALUE. false and 0 are not empty.
//
// Encoding:
//   - toJSON VALUE: compact JSON with sorted object keys, no HTML escaping
//     (& and < stay as they are) and no trailing newline.
//   - toJSONPretty VALUE: toJSON indented by two spaces.
//   - toYAML VALUE: YAML with sorted object keys, two-space indentation and
//     no trailing newline. Numbers keep their written form.
//   - base64encode TEXT, base64Encode TEXT: standard base64 with padding.
//   - base64decode TEXT, base64Decode TEXT: decodes standard base64, padded or
//     not. Invalid input is an error.
//   - base64URLEncode TEXT: URL-safe base64 with padding.
//   - base64URLDecode TEXT: decodes URL-safe base64, padded or not. Invalid
//     input is an error.
//   - quote TEXT: TEXT as a double-quoted JSON string, which JSON, YAML and
//     TOML accept. Invalid UTF-8 becomes U+FFFD.
//   - squote TEXT: TEXT in single quotes with each ' doubled, as YAML and SQL
//     expect. This is not shell quoting.
//
// Text:
//   - trim TEXT, trimSpace TEXT: TEXT without leading and trailing white space.
//   - trimPrefix PREFIX TEXT, trimSuffix SUFFIX TEXT: TEXT without PREFIX or
//     SUFFIX, when present.
//   - upper TEXT, toUpper TEXT, lower TEXT, toLower TEXT: case conversion.
//   - replace OLD NEW TEXT, replaceAll OLD NEW TEXT: TEXT with every OLD
//     replaced by NEW.
//   - split SEPARATOR TEXT: the list of substrings between separators. An
//     empty TEXT gives an empty list.
//   - join SEPARATOR LIST: the elements of LIST, which must be text, joined
//     by SEPARATOR.
//   - indent N TEXT: TEXT with N spaces before every line that is not empty.
//   - contains NEEDLE HAYSTACK: for a text HAYSTACK, whether it contains the
//     substring NEEDLE. For a list, whether an element equals NEEDLE under eq.
//   - hasPrefix PREFIX TEXT, hasSuffix SUFFIX TEXT: whether TEXT starts or
//     ends with the given text.
//
// Comparison (these replace the builtins of the same names):
//   - eq A B...: whether A equals any B. Numbers compare by value (3.50 eq
//     3.5), a number equals a string with the same text, and null equals only
//     null. Objects and lists are not comparable.
//   - ne A B: not eq.
//   - lt, le, gt, ge A B: order of two numbers (by value) or two strings.
//
// There is deliberately no env helper: a template sees the secret and nothing
// from the environment of the process.
//
// # Errors
//
// Parse and Render return an [*Error], which names the template, the line and,
// for render errors, the column. No error message contains a secret value. A
// message may contain field names, and a [*MissingFieldError] lists the names
// of the object that was searched.
package template
