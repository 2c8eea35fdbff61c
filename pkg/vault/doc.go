// Package vault reads secrets from a HashiCorp Vault or OpenBao server.
//
// A Client holds one HTTP client with a connection pool sized for parallel
// reads. It is configured only from the loaded config. The Vault CLI's
// environment variables reach it through the config loader, so a file that
// names an address wins over VAULT_ADDR. A Session is a Client with a token from one
// credential set. Reads classify every failure as an *Error whose Kind separates
// an unreachable server, a denied login, a missing or forbidden secret, and
// whether a retry can help.
package vault
