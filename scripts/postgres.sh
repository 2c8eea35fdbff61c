#!/usr/bin/env bash
# Prints the folder of the PostgreSQL server binaries (initdb, postgres,
# psql) that the database tests start, such as /usr/lib/postgresql/15/bin.
# When no server is installed, it installs Debian's postgresql package
# first, which needs root and apt-get. Progress goes to stderr.
#
# The tests create their own database cluster in a temporary folder, so the
# install is set up to create no main cluster of the package's own, and so
# it starts no server.
set -euo pipefail

log() {
	printf 'postgres.sh: %s\n' "$*" >&2
}

fail() {
	log "error: $*"
	exit 1
}

# find_bin_dir prints the bin folder of the newest installed major version
# that has a server, initdb and psql.
find_bin_dir() {
	local dir found=""
	# Without a match the glob stays as written, which the -x tests skip.
	for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		if [[ -x "$dir/postgres" && -x "$dir/initdb" && -x "$dir/psql" ]]; then
			found="$dir"
		fi
	done
	[[ -n "$found" ]] && printf '%s\n' "$found"
}

if bin_dir=$(find_bin_dir); then
	log "using $bin_dir"
	printf '%s\n' "$bin_dir"
	exit 0
fi

[[ "$(id -u)" == 0 ]] ||
	fail "PostgreSQL is not installed, and installing it needs root; run 'apt-get install postgresql' as root, or set SECRETS_SYNC_POSTGRES_BIN_DIR to a folder with initdb, postgres and psql"
command -v apt-get >/dev/null 2>&1 ||
	fail "PostgreSQL is not installed and apt-get is not available; install PostgreSQL and set SECRETS_SYNC_POSTGRES_BIN_DIR to its bin folder"

# postgresql-common reads this folder through the include_dir line of its
# createcluster.conf, so the package creates and starts no cluster.
mkdir -p /etc/postgresql-common/createcluster.d
printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.d/secrets-sync-tests.conf

export DEBIAN_FRONTEND=noninteractive
log "installing Debian's postgresql package"
apt-get update >&2 || fail "apt-get update failed"
apt-get install -y --no-install-recommends postgresql >&2 || fail "apt-get install postgresql failed"

bin_dir=$(find_bin_dir) ||
	fail "the postgresql package is installed, but no /usr/lib/postgresql/*/bin has postgres, initdb and psql"
log "installed $bin_dir"
printf '%s\n' "$bin_dir"
