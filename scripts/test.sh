#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: builds or reuses the cached
# Vault dev server binary, finds PostgreSQL or installs it with apt-get (as
# root) for the database tests, then runs go vet and go test with the race
# detector in the main module, then the tests of the benchmark's module.
# Exits non-zero on the first failing step.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

step() {
	printf '==> %s\n' "$*"
}

command -v go >/dev/null 2>&1 || {
	echo "test.sh: error: go is not on PATH; install Go (see go.mod for the version)" >&2
	exit 1
}
step "$(go version)"

step "building or reusing the Vault dev server (scripts/vault-server.sh)"
vault_binary=$(bash scripts/vault-server.sh)
export SECRETS_SYNC_VAULT_BIN="$vault_binary"
step "SECRETS_SYNC_VAULT_BIN=$SECRETS_SYNC_VAULT_BIN"

# The database tests start PostgreSQL themselves. When it cannot be found or
# installed, they are skipped, or fail when CI=true.
step "finding or installing PostgreSQL (scripts/postgres.sh)"
if postgres_bin_dir=$(bash scripts/postgres.sh); then
	export SECRETS_SYNC_POSTGRES_BIN_DIR="$postgres_bin_dir"
	step "SECRETS_SYNC_POSTGRES_BIN_DIR=$SECRETS_SYNC_POSTGRES_BIN_DIR"
else
	step "warning: no PostgreSQL, so the database tests will skip (or fail with CI=true)"
fi

step "go vet ./..."
go vet ./...

# The race detector needs cgo, so a machine without a C compiler runs the
# tests without it rather than not at all.
test_flags=(-race -count=1)
if [[ "$(go env CGO_ENABLED)" != 1 ]]; then
	test_flags=(-count=1)
	step "warning: cgo is disabled (no C compiler found?), so the tests run without -race"
fi

step "go test ${test_flags[*]} ./..."
go test "${test_flags[@]}" ./...

# The benchmark is a module of its own, which keeps its chart library out
# of the secrets-sync binary. Its tests check the report it writes.
step "go test ${test_flags[*]} ./... in scripts/bench"
(cd scripts/bench && GOWORK=off go test -mod=readonly "${test_flags[@]}" ./...)

step "all checks passed"
