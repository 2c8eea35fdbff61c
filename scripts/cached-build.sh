#!/usr/bin/env bash
# Builds the Go program PACKAGE from the tools module in MODULE_DIR, caches
# the binary outside the repository, and prints its path on stdout. Progress
# goes to stderr, each line prefixed with LOG_NAME.
#
#   cached-build.sh LOG_NAME MODULE_DIR PACKAGE NAME VERSION_ARG
#
# The binary is cached as
#   ${SECRETS_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-sync}/NAME-<version>-<hash>
# where <version> comes from the module's require line for PACKAGE and
# <hash> is the first 12 hex digits of the SHA-256 of the module's go.sum
# followed by its go.mod, so a change of the pinned release, of any
# dependency or of the module's godebug line builds a new binary. A cached
# binary is reused without running the Go toolchain. A new binary must run
# with VERSION_ARG before it is cached.
set -euo pipefail

[[ $# -eq 5 ]] || {
	printf 'cached-build.sh: usage: cached-build.sh LOG_NAME MODULE_DIR PACKAGE NAME VERSION_ARG\n' >&2
	exit 2
}
log_name=$1
module_dir=$2
package=$3
name=$4
version_arg=$5

log() {
	printf '%s: %s\n' "$log_name" "$*" >&2
}

fail() {
	log "error: $*"
	exit 1
}

[[ -f "$module_dir/go.mod" && -f "$module_dir/go.sum" ]] ||
	fail "missing $module_dir/go.mod or go.sum; the tools module that pins the $name release must be present"

if [[ -n "${SECRETS_SYNC_CACHE:-}" ]]; then
	cache_dir="$SECRETS_SYNC_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
	cache_dir="$XDG_CACHE_HOME/secrets-sync"
elif [[ -n "${HOME:-}" ]]; then
	cache_dir="$HOME/.cache/secrets-sync"
else
	fail "HOME is not set; set SECRETS_SYNC_CACHE to a folder for the cached $name binary"
fi

# The release comes from the require line of the tools module, in either the
# block form ("github.com/hashicorp/vault v1.13.0") or the one-line form.
version=$(awk -v package="$package" '
	$1 == package { print $2; exit }
	$1 == "require" && $2 == package { print $3; exit }
' "$module_dir/go.mod")
[[ -n "$version" ]] ||
	fail "no require line for $package in $module_dir/go.mod"

if command -v sha256sum >/dev/null 2>&1; then
	sum_hash=$(cat "$module_dir/go.sum" "$module_dir/go.mod" | sha256sum | cut -c1-12)
elif command -v shasum >/dev/null 2>&1; then
	sum_hash=$(cat "$module_dir/go.sum" "$module_dir/go.mod" | shasum -a 256 | cut -c1-12)
else
	fail "neither sha256sum nor shasum is installed; one is needed to key the cached $name binary"
fi

binary="$cache_dir/$name-${version#v}-$sum_hash"

if [[ -x "$binary" ]]; then
	log "using cached $binary"
	printf '%s\n' "$binary"
	exit 0
fi

mkdir -p "$cache_dir"

# Several runs may ask for the same binary at the same time. A lock on
# the cache folder makes them wait for one build instead of each compiling
# it. Without flock (macOS) they build in parallel, which is slower but
# still correct because each build renames its own temporary file.
have_lock=false
if command -v flock >/dev/null 2>&1; then
	lock_file="$cache_dir/.$name-build.lock"
	exec 9>"$lock_file"
	if ! flock -n 9; then
		log "waiting for another build of $name to finish (lock $lock_file)"
		flock 9
	fi
	have_lock=true
	if [[ -x "$binary" ]]; then
		log "using $binary, built while waiting"
		printf '%s\n' "$binary"
		exit 0
	fi
fi

command -v go >/dev/null 2>&1 || fail "go is not on PATH; Go is needed to build $name"

# While this script holds the lock no other run is building, so temporary
# folders found now were left by killed runs.
if [[ "$have_lock" == true ]]; then
	for stale in "$cache_dir/.$name-build."*; do
		[[ "$stale" != "$lock_file" ]] || continue
		[[ -e "$stale" ]] || continue
		log "removing $stale, left by an interrupted build"
		rm -rf "$stale"
	done
fi

# The build writes into a temporary folder inside the cache folder, so the
# final mv is a rename on one file system: a killed build leaves at most a
# .NAME-build.* folder behind, never a partial binary under the final name.
tmp_dir=$(mktemp -d "$cache_dir/.$name-build.XXXXXX")
build_pid=

cleanup() {
	if [[ -n "$build_pid" ]]; then
		kill -TERM "$build_pid" 2>/dev/null || true
		wait "$build_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building $name $version into $binary (the first build downloads and compiles; Vault takes several minutes)"
start_seconds=$SECONDS

# The build runs in the background so that a TERM or INT to this script can
# stop it. It does not inherit the lock (fd 9), so a build that outlives a
# killed script cannot block later runs.
(
	cd "$module_dir"
	# GOWORK=off keeps a go.work file in a parent folder from changing the
	# module graph, and -mod=readonly makes a stale go.sum an error instead
	# of an edit in the checkout.
	GOWORK=off exec go build -mod=readonly -trimpath -o "$tmp_dir/$name" "$package"
) >&2 9>&- &
build_pid=$!
build_status=0
wait "$build_pid" || build_status=$?
build_pid=
[[ "$build_status" == 0 ]] ||
	fail "go build of $package@$version failed with status $build_status (see the output above)"

"$tmp_dir/$name" "$version_arg" >&2 || fail "the built binary does not run: $tmp_dir/$name $version_arg failed"
mv -f "$tmp_dir/$name" "$binary"
log "built $binary in $((SECONDS - start_seconds))s"
printf '%s\n' "$binary"
