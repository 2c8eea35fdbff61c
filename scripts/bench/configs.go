package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// The three tools render the same content into one file per secret: the
// secret's password field, nothing added.

// writeSyncConfig writes a secrets-sync config for secrets 0 ... n-1, each
// rendered into outDir/sI. The address comes from VAULT_ADDR and the token
// from VAULT_TOKEN, so one file serves direct and proxied runs. A non-zero
// refresh sets defaults.refreshInterval for watch runs.
func writeSyncConfig(path, outDir string, n int, refresh string) error {
	return writeLines(path, func(w *bufio.Writer) {
		w.WriteString("secretStore:\n  address: \"${VAULT_ADDR}\"\n")
		if refresh != "" {
			fmt.Fprintf(w, "defaults:\n  refreshInterval: %s\n", refresh)
		}
		w.WriteString("secrets:\n")
		for i := range n {
			name := "s" + strconv.Itoa(i)
			fmt.Fprintf(w, "  - {name: %s, key: bench/%s, files: [{path: %s, template: \"{{ .password }}\"}]}\n",
				name, name, strconv.Quote(filepath.Join(outDir, name)))
		}
	})
}

// templateStanzas writes one consul-template style template block per
// secret; Vault Agent and consul-template share this syntax.
func templateStanzas(w *bufio.Writer, outDir string, n int) {
	for i := range n {
		contents := fmt.Sprintf(`{{ with secret "%s" }}{{ .Data.data.password }}{{ end }}`, secretPath(i))
		fmt.Fprintf(w, "template {\n  contents = %s\n  destination = %s\n  error_on_missing_key = true\n}\n",
			strconv.Quote(contents), strconv.Quote(filepath.Join(outDir, "s"+strconv.Itoa(i))))
	}
}

// writeAgentConfig writes a Vault Agent config that logs in with the
// token_file auto-auth method, which Vault 1.13 has, and renders every
// secret once. Vault Agent takes the address from the file, so direct and
// proxied runs get a file each.
func writeAgentConfig(path, addr, tokenFile, outDir string, n int) error {
	return writeLines(path, func(w *bufio.Writer) {
		fmt.Fprintf(w, "vault {\n  address = %s\n}\n", strconv.Quote(addr))
		fmt.Fprintf(w, "auto_auth {\n  method \"token_file\" {\n    config = {\n      token_file_path = %s\n    }\n  }\n}\n",
			strconv.Quote(tokenFile))
		w.WriteString("template_config {\n  exit_on_retry_failure = true\n}\n")
		templateStanzas(w, outDir, n)
	})
}

// writeConsulTemplateConfig writes a consul-template config with token
// renewal off. The address is given with -vault-addr and the token in
// VAULT_TOKEN.
func writeConsulTemplateConfig(path, outDir string, n int) error {
	return writeLines(path, func(w *bufio.Writer) {
		w.WriteString("vault {\n  renew_token = false\n}\n")
		templateStanzas(w, outDir, n)
	})
}

func writeLines(path string, fill func(w *bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
