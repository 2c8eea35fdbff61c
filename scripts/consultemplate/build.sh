#!/usr/bin/env bash
# Builds the consul-template release pinned in this folder's go.mod, which
# the benchmark (scripts/bench.sh) runs beside secrets-sync, and prints the
# binary's path on stdout. Progress goes to stderr.
#
# The binary is cached outside the repository like the Vault server:
#   ${SECRETS_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-sync}/consul-template-<version>-<hash>
# scripts/cached-build.sh describes the cache key and the build.
set -euo pipefail

module_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$module_dir/../cached-build.sh" consultemplate/build.sh "$module_dir" \
	github.com/hashicorp/consul-template consul-template -version
