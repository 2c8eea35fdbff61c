#!/usr/bin/env bash
# Generates the man pages of secrets-sync and every subcommand, in section 1,
# into a folder (default: manpages/ at the repository root, ignored by git):
#
#   bash scripts/man.sh [DIR]
#   man -l manpages/secrets-sync-sync.1
#
# The generator is the Go program in scripts/mangen, a module of its own, so
# cobra/doc and go-md2man never enter the secrets-sync binary. It builds
# against this checkout's command tree, so the pages match the code.
#
# SOURCE_DATE_EPOCH sets the date printed in the pages; when it is unset, the
# date of the last commit is used, so rebuilding a release gives the same
# pages. VERSION sets the version in the page footer (default: git describe).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=${1:-"$repo_root/manpages"}
if (($# > 1)); then
	echo "man.sh: error: expected at most one argument, the output folder; got $#" >&2
	exit 2
fi
# The generator runs in scripts/mangen, so a relative folder is made
# absolute against the caller's working folder first.
case "$out_dir" in
/*) ;;
*) out_dir="$PWD/$out_dir" ;;
esac

if [[ -z "${SOURCE_DATE_EPOCH:-}" ]] && git -C "$repo_root" rev-parse --git-dir >/dev/null 2>&1; then
	SOURCE_DATE_EPOCH=$(git -C "$repo_root" log -1 --format=%ct 2>/dev/null || true)
fi
if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
	export SOURCE_DATE_EPOCH
fi

version=${VERSION:-}
if [[ -z "$version" ]]; then
	version=$(git -C "$repo_root" describe --tags --always --dirty 2>/dev/null || echo dev)
fi

mkdir -p "$out_dir"
# -mod=mod lets the go command record checksums for modules that the main
# module added since scripts/mangen/go.sum was last updated.
cd "$repo_root/scripts/mangen"
go run -mod=mod . -out "$out_dir" -source "secrets-sync $version"
echo "man.sh: wrote $(find "$out_dir" -maxdepth 1 -name '*.1' | wc -l) man pages to $out_dir" >&2
