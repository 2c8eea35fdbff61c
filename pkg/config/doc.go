// Package config loads a secrets-sync configuration file into typed values.
//
// The file is YAML. It is decoded through yaml.Node values rather than a
// generic map so that key case is kept (template.data keys are matched to file
// basenames byte for byte) and every problem can be reported with its file,
// line and column. Loading runs in three steps:
//
//  1. parse: the YAML document, with `${NAME}` references in scalar values
//     expanded from the environment (`$$` is a literal `$`, `${NAME:-word}`
//     gives a fallback, and an unset variable is a problem);
//  2. resolve: the earlier format's locations (kvVersion and mountPath under
//     secretStore), the `defaults:` section, the VAULT_* and BAO_* variables
//     for what the file leaves out, and the built-in defaults;
//  3. check: every rule that can be known without a server.
//
// All problems of a file are collected, not only the first, so a user can fix
// them in one edit. Nothing in this package opens a network connection.
package config
