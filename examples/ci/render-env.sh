#!/usr/bin/env bash
# Renders the dotenv file of examples/ci/config.yaml for a CI job:
#
#   VAULT_ADDR=... VAULT_ROLE_ID=... VAULT_SECRET_ID=... \
#     bash examples/ci/render-env.sh [CONFIG] [OUTPUT]
#
# CONFIG defaults to the config.yaml beside this script, OUTPUT to .env in
# the working folder. secrets-sync must be on PATH.
#
# The output is written to a temporary file first and renamed when render
# succeeded, so a failed render never leaves a half-written or empty .env
# behind. The file is readable by the job's user only.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config=${1:-"$script_dir/config.yaml"}
output=${2:-.env}

command -v secrets-sync >/dev/null 2>&1 || {
	echo "render-env.sh: error: secrets-sync is not on PATH; install a release or run: go install github.com/secrets-sync/secrets-sync@latest" >&2
	exit 1
}

umask 077
tmp=$(mktemp "$output.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# --file selects the file by its destination in the config (".env"), and a
# single selected file goes to standard output alone, without a header.
secrets-sync render --config "$config" --file .env --timeout 1m > "$tmp"
mv "$tmp" "$output"
trap - EXIT
echo "render-env.sh: wrote $output" >&2
