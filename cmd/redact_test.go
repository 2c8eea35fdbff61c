package cmd

import (
	"bytes"
	"testing"
)

func TestRedactorReplacesCredentials(t *testing.T) {
	var out bytes.Buffer
	values := &credentialSet{}
	values.addEnvironment([]string{
		"VAULT_TOKEN=hvs.abcdefghijklmnop",
		"APP_DB_PASSWORD=correct-horse",
		"SHORT_TOKEN=root",
		"VAULT_ADDR=http://127.0.0.1:8200",
	})
	w := &redactor{w: &out, values: values}
	line := "read hvs.abcdefghijklmnop with correct-horse from http://127.0.0.1:8200 as root\n"
	n, err := w.Write([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(line) {
		t.Errorf("Write returned %d, want the input length %d", n, len(line))
	}
	want := "read <redacted> with <redacted> from http://127.0.0.1:8200 as root\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}
