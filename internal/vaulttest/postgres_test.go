package vaulttest

import (
	"os"
	"strings"
	"testing"
)

func TestStartPostgresLoopbackPasswordLogin(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t)
	got, err := p.Query(p.User, p.Password, "SELECT current_user")
	if err != nil {
		t.Fatal(err)
	}
	if got != p.User {
		t.Errorf("current_user = %q, want %q", got, p.User)
	}
	if _, err := p.Query(p.User, "wrong-password", "SELECT 1"); err == nil {
		t.Error("a login with a wrong password succeeded")
	}
	got, err = p.Query(p.User, p.Password, "SHOW listen_addresses")
	if err != nil {
		t.Fatal(err)
	}
	if got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, want 127.0.0.1", got)
	}
}

func TestStartPostgresRemovesFolder(t *testing.T) {
	var dir string
	t.Run("server", func(t *testing.T) {
		p := StartPostgres(t)
		dir = p.dir
	})
	if dir == "" {
		t.Skip("PostgreSQL did not start")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("folder %s still exists after the test: %v", dir, err)
	}
}

func TestConnectionURLOnLoopback(t *testing.T) {
	p := &Postgres{Port: 5999}
	if got := p.ConnectionURL(); !strings.HasPrefix(got, "postgresql://{{username}}:{{password}}@127.0.0.1:5999/") {
		t.Errorf("ConnectionURL() = %q", got)
	}
}
