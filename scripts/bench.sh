#!/usr/bin/env bash
# Benchmarks secrets-sync against a plain Go HTTP reader (the floor), Vault
# Agent and consul-template in one run, and writes the results into
# docs/performance.md and the chart docs/performance.png.
#
# It builds secrets-sync from this checkout, the Vault 1.13 server (also
# used as Vault Agent) with scripts/vault-server.sh, consul-template with
# scripts/consultemplate/build.sh, and the benchmark itself from its own
# module in scripts/bench. The benchmark starts a Vault dev server and a
# counting proxy on 127.0.0.1 only, and removes its temporary folders under
# .work/ and /dev/shm when it ends.
#
# Arguments are passed to the benchmark; the common ones:
#   --runs N           timed runs per tool and size (default 5)
#   --sizes A,B,C      numbers of secrets (default 100,1000,10000)
#   --only a,b         variants to run (see --help)
#   --token root       read with the root token instead of a read-only policy token
#   --root-sizes A,B   sizes measured again with the root token (default 1000; "" for none)
#   --watch=false      skip the watch benchmark
#   --no-docs          print the table only; leave docs/ unchanged
# `bash scripts/bench.sh --help` lists every flag.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

log() {
	printf 'bench.sh: %s\n' "$*" >&2
}

write_docs=true
args=()
for arg in "$@"; do
	if [[ "$arg" == "--no-docs" ]]; then
		write_docs=false
	else
		args+=("$arg")
	fi
done

bin_dir="$repo_root/.work/bench-bin"
mkdir -p "$bin_dir"

# secrets-sync is built as the release and the image build it: static,
# without cgo, and stripped, which starts faster than a default build.
log "building secrets-sync from $repo_root"
revision=$(git -C "$repo_root" describe --always --dirty 2>/dev/null || echo unknown)
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X github.com/secrets-sync/secrets-sync/cmd.commit=$revision" \
	-o "$bin_dir/secrets-sync" .

log "building the benchmark (scripts/bench)"
(cd scripts/bench && GOWORK=off go build -mod=readonly -o "$bin_dir/bench" . &&
	CGO_ENABLED=0 GOWORK=off go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin_dir/floor" ./floor &&
	GOWORK=off go build -mod=readonly -o "$bin_dir/rusage" ./rusage)

vault_bin=$(bash scripts/vault-server.sh)
consul_template_bin=$(bash scripts/consultemplate/build.sh)

doc_args=()
if [[ "$write_docs" == true ]]; then
	doc_args=(-markdown docs/performance.md -chart docs/performance.png)
fi

command_line="bash scripts/bench.sh"
if [[ $# -gt 0 ]]; then
	command_line+=" $*"
fi

# exec replaces this shell with the benchmark, so Ctrl-C and TERM reach it
# directly. It stops its Vault server and its children itself.
exec "$bin_dir/bench" \
	-vault "$vault_bin" \
	-consul-template "$consul_template_bin" \
	-secrets-sync "$bin_dir/secrets-sync" \
	-floor "$bin_dir/floor" \
	-rusage "$bin_dir/rusage" \
	-work-dir "$repo_root/.work" \
	-revision "$revision" \
	-command "$command_line" \
	"${doc_args[@]}" \
	"${args[@]}"
