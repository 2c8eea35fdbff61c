package cmd

import (
	"bytes"
	"testing"

	"github.com/secrets-sync/secrets-sync/pkg/config"
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

func TestRedactorReplacesAddressPassword(t *testing.T) {
	var out bytes.Buffer
	values := &credentialSet{}
	values.addConfig(&config.Config{Store: config.Store{Addresses: []string{
		"http://bob:proxy-password-1@127.0.0.1:8200",
		"http://alice:short@127.0.0.1:8201",
		"http://carol@127.0.0.1:8202",
	}}})
	w := &redactor{w: &out, values: values}
	if _, err := w.Write([]byte("proxy-password-1 short carol\n")); err != nil {
		t.Fatal(err)
	}
	// Short values stay, as for every other credential.
	want := "<redacted> short carol\n"
	if out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}
