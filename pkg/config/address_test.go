package config

import "testing"

func TestRedactAddress(t *testing.T) {
	cases := []struct {
		name, address, want string
	}{
		{"no user info", "https://vault.example.com:8200", "https://vault.example.com:8200"},
		{"user and password", "http://bob:hunter2@127.0.0.1:8200", "http://bob:xxxxx@127.0.0.1:8200"},
		{"escaped password and path", "https://bob:p%40ss%2F1@vault:8200/proxy", "https://bob:xxxxx@vault:8200/proxy"},
		{"empty password", "http://bob:@vault:8200", "http://bob:xxxxx@vault:8200"},
		{"user without password", "http://bob@vault:8200", "http://bob@vault:8200"},
		{"@ in the path only", "http://vault:8200/a@b", "http://vault:8200/a@b"},
		{"no scheme", "bob:hunter2@vault:8200", "bob:xxxxx@vault:8200"},
		{"slash in the password", "http://bob:hun/ter2@vault:8200", "http://bob:xxxxx@vault:8200"},
		{"question mark in the password", "http://bob:hun?ter2@vault:8200", "http://bob:xxxxx@vault:8200"},
		{"@ in the password", "http://bob:hun@ter2@vault:8200", "http://bob:xxxxx@vault:8200"},
		{"one slash after the scheme", "https:/bob:hunter2@vault", "https:xxxxx@vault"},
		{"host and port only", "vault:8200", "vault:8200"},
		{"address and port only", "127.0.0.1:8200", "127.0.0.1:8200"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RedactAddress(c.address); got != c.want {
				t.Errorf("RedactAddress(%q) = %q, want %q", c.address, got, c.want)
			}
		})
	}
}
