//go:build tools

// Package vaultserver pins the Vault server release that tests and the demo
// build and run as a dev server on loopback. It is a separate module so that
// the server's dependencies never enter the secrets-sync binary.
package vaultserver

import _ "github.com/hashicorp/vault"
