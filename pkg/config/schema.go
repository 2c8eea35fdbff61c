package config

import _ "embed"

// schemaJSON is a JSON Schema (draft 2020-12) of the config file, written
// by hand beside the key lists in raw.go and onchange.go. A test checks
// that both name the same keys.
//
//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema of the config file, for editors that
// complete and check it. It describes the shape only: a file that matches
// may still be rejected by Parse, for example for a missing address.
func Schema() []byte {
	return append([]byte(nil), schemaJSON...)
}
