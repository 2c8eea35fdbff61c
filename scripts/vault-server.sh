#!/usr/bin/env bash
# Builds the Vault server that tests and the demo run as a dev server, and
# prints the path of the binary on stdout. Progress goes to stderr.
#
# The binary is built from the tools module in scripts/vaultserver, which
# pins the release and its godebug settings, and cached outside the
# repository, so every clone on the same machine reuses it:
#   ${SECRETS_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-sync}/vault-<version>-<hash>
# scripts/cached-build.sh describes the cache key and the build.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$script_dir/cached-build.sh" vault-server.sh "$script_dir/vaultserver" \
	github.com/hashicorp/vault vault version
