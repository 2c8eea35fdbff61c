#!/usr/bin/env bash
# Builds the consul-template release pinned in this folder's go.mod, which
# the benchmark (scripts/bench.sh) runs beside secrets-sync, and prints the
# binary's path on stdout. Progress goes to stderr.
#
# The binary is cached outside the repository, the same way as the Vault
# server of scripts/vault-server.sh:
#   ${SECRETS_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-sync}/consul-template-<version>-<hash>
# where <hash> is the first 12 hex digits of the SHA-256 of go.sum followed
# by go.mod, so a change of the pinned release or of any dependency builds a
# new binary. A cached binary is reused without running the Go toolchain.
set -euo pipefail

module_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() {
	printf 'consultemplate/build.sh: %s\n' "$*" >&2
}

fail() {
	log "error: $*"
	exit 1
}

[[ -f "$module_dir/go.mod" && -f "$module_dir/go.sum" ]] ||
	fail "missing $module_dir/go.mod or go.sum"

if [[ -n "${SECRETS_SYNC_CACHE:-}" ]]; then
	cache_dir="$SECRETS_SYNC_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
	cache_dir="$XDG_CACHE_HOME/secrets-sync"
elif [[ -n "${HOME:-}" ]]; then
	cache_dir="$HOME/.cache/secrets-sync"
else
	fail "HOME is not set; set SECRETS_SYNC_CACHE to a folder for the cached binary"
fi

version=$(awk '
	$1 == "github.com/hashicorp/consul-template" { print $2; exit }
	$1 == "require" && $2 == "github.com/hashicorp/consul-template" { print $3; exit }
' "$module_dir/go.mod")
[[ -n "$version" ]] || fail "no require line for github.com/hashicorp/consul-template in $module_dir/go.mod"

if command -v sha256sum >/dev/null 2>&1; then
	hash=$(cat "$module_dir/go.sum" "$module_dir/go.mod" | sha256sum | cut -c1-12)
elif command -v shasum >/dev/null 2>&1; then
	hash=$(cat "$module_dir/go.sum" "$module_dir/go.mod" | shasum -a 256 | cut -c1-12)
else
	fail "neither sha256sum nor shasum is installed; one is needed to key the cached binary"
fi

binary="$cache_dir/consul-template-${version#v}-$hash"
if [[ -x "$binary" ]]; then
	log "using cached $binary"
	printf '%s\n' "$binary"
	exit 0
fi

command -v go >/dev/null 2>&1 || fail "go is not on PATH; Go is needed to build consul-template"
mkdir -p "$cache_dir"

# Two benchmarks started together wait for one build instead of both
# compiling. Without flock each builds its own copy, which is still correct
# because each renames its own temporary file into place.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache_dir/.consul-template-build.lock"
	flock 9
	if [[ -x "$binary" ]]; then
		log "using $binary, built while waiting"
		printf '%s\n' "$binary"
		exit 0
	fi
fi

# The temporary folder is inside the cache folder, so the final mv is a
# rename on one file system and a killed build never leaves a partial binary
# under the final name.
tmp_dir=$(mktemp -d "$cache_dir/.consul-template-build.XXXXXX")
trap 'rm -rf "$tmp_dir"' EXIT

log "building consul-template $version into $binary"
start_seconds=$SECONDS
# GOWORK=off keeps a go.work file in a parent folder out of the module
# graph, and -mod=readonly makes a stale go.sum an error instead of an edit.
(cd "$module_dir" && GOWORK=off go build -mod=readonly -trimpath -o "$tmp_dir/consul-template" \
	github.com/hashicorp/consul-template) >&2 9>&- ||
	fail "go build of github.com/hashicorp/consul-template@$version failed (see the output above)"

"$tmp_dir/consul-template" -version >&2 || fail "the built binary does not run: consul-template -version failed"
mv -f "$tmp_dir/consul-template" "$binary"
log "built $binary in $((SECONDS - start_seconds))s"
printf '%s\n' "$binary"
