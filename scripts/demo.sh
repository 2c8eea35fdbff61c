#!/usr/bin/env bash
# Shows secrets-sync end to end on this machine: builds secrets-sync, starts a
# Vault dev server on 127.0.0.1 with a random root token, seeds demo secrets,
# runs one sync with examples/demo/config.yaml, and lists the files it wrote.
# Everything goes under .work/demo/ (ignored by git), which each run clears.
# The server is stopped when the script exits, also on failure or Ctrl-C.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

work_dir=.work/demo
config=examples/demo/config.yaml
vault_home="$work_dir/vault-home"
vault_log="$work_dir/vault.log"
vault_pid=

step() {
	printf '\n==> %s\n' "$*"
}

fail() {
	printf 'demo.sh: error: %s\n' "$*" >&2
	exit 1
}

stop_vault() {
	[[ -n "$vault_pid" ]] || return 0
	if kill -0 "$vault_pid" 2>/dev/null; then
		kill -TERM "$vault_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$vault_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$vault_pid" 2>/dev/null; then
			kill -KILL "$vault_pid" 2>/dev/null || true
		fi
	fi
	wait "$vault_pid" 2>/dev/null || true
	vault_pid=
}

on_exit() {
	local status=$?
	if [[ -n "$vault_pid" ]]; then
		step "stopping the Vault dev server (pid $vault_pid)"
		stop_vault
	fi
	exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs the Vault binary with only the variables it needs, so the caller's
# VAULT_* settings and ~/.vault-token play no part.
vault_cli() {
	env -i PATH="$PATH" HOME="$repo_root/$vault_home" \
		VAULT_ADDR="$vault_addr" VAULT_TOKEN="$root_token" \
		"$vault_binary" "$@"
}

# Prints a port in 20000-59999 that no local server accepts connections on.
# The server's own bind is the real test, and start_vault retries on a clash.
pick_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	fail "no free loopback port found in 50 tries"
}

start_vault() {
	local attempt port
	for attempt in 1 2 3; do
		port=$(pick_port)
		vault_addr="http://127.0.0.1:$port"
		printf 'starting %s on 127.0.0.1:%s (attempt %s), log %s\n' "$vault_binary" "$port" "$attempt" "$vault_log"
		env -i PATH="$PATH" HOME="$repo_root/$vault_home" \
			"$vault_binary" server -dev \
			-dev-listen-address="127.0.0.1:$port" \
			-dev-root-token-id="$root_token" \
			-dev-no-store-token \
			>>"$vault_log" 2>&1 &
		vault_pid=$!

		# vault status exits 0 once the server is unsealed and accepts requests.
		for _ in $(seq 1 300); do
			if ! kill -0 "$vault_pid" 2>/dev/null; then
				break
			fi
			if vault_cli status >/dev/null 2>&1; then
				printf 'Vault dev server ready at %s\n' "$vault_addr"
				return 0
			fi
			sleep 0.1
		done

		stop_vault
		if ! grep -q 'address already in use' "$vault_log"; then
			break
		fi
	done
	tail -n 20 "$vault_log" >&2 || true
	fail "the Vault dev server did not start; full log in $vault_log"
}

# The caller's VAULT_* and BAO_* settings would change what secrets-sync
# connects to, so the demo runs without them.
while IFS= read -r name; do
	unset "$name"
done < <(compgen -e | grep -E '^(VAULT|BAO)_' || true)

rm -rf "$work_dir"
mkdir -p "$work_dir/bin" "$vault_home"

step "building secrets-sync"
go build -o "$work_dir/bin/secrets-sync" .

step "building or reusing the Vault dev server (scripts/vault-server.sh)"
vault_binary=$(bash scripts/vault-server.sh)

step "starting a Vault dev server on loopback"
root_token="demo-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
start_vault

step "seeding demo/db, demo/api and demo/tls in the KV v2 engine at secret/"
# Fake PEM text: shaped like a certificate and key, not usable as either.
seed_dir="$work_dir/seed"
mkdir -p "$seed_dir"
cat >"$seed_dir/tls.crt" <<'PEM'
-----BEGIN CERTIFICATE-----
ZGVtbyBjZXJ0aWZpY2F0ZSBmb3Igc2VjcmV0cy1zeW5jLCBub3QgYSByZWFsIGNl
cnRpZmljYXRlOyBpdCBvbmx5IGxvb2tzIGxpa2Ugb25lIGluIHRoZSBkZW1vLg==
-----END CERTIFICATE-----
PEM
cat >"$seed_dir/tls.key" <<'PEM'
-----BEGIN PRIVATE KEY-----
ZGVtbyBwcml2YXRlIGtleSBmb3Igc2VjcmV0cy1zeW5jLCBub3QgYSByZWFsIGtl
eTsgaXQgb25seSBsb29rcyBsaWtlIG9uZSBpbiB0aGUgZGVtby4=
-----END PRIVATE KEY-----
PEM
db_password="pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
vault_cli kv put -mount=secret demo/db username=app_user password="$db_password" >/dev/null
vault_cli kv put -mount=secret demo/api apiKey="key-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
	apiSecret="sec-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null
vault_cli kv put -mount=secret demo/tls cert=@"$seed_dir/tls.crt" key=@"$seed_dir/tls.key" >/dev/null
vault_cli kv list secret/demo

step "secrets-sync sync --once -c $config"
sync_status=0
# Without --status-file, sync --once writes $TMPDIR/secrets-sync.status.json,
# which is outside work_dir.
VAULT_ADDR="$vault_addr" VAULT_TOKEN="$root_token" \
	"$work_dir/bin/secrets-sync" sync --once -c "$config" \
	--status-file "$work_dir/status.json" || sync_status=$?
printf 'secrets-sync exited with status %s\n' "$sync_status"

step "files written under $work_dir/secrets"
if [[ ! -d "$work_dir/secrets" ]]; then
	fail "secrets-sync wrote no files under $work_dir/secrets"
fi
ls -l "$work_dir/secrets"

step "contents, with secret values hidden"
for file in "$work_dir/secrets"/*; do
	[[ -f "$file" ]] || continue
	name=$(basename "$file")
	case "$name" in
	*.crt)
		printf -- '--- %s (a certificate is public, shown in full)\n' "$name"
		cat "$file"
		;;
	*.env)
		printf -- '--- %s (values of *PASSWORD*, *SECRET*, *KEY* and *TOKEN* variables hidden)\n' "$name"
		while IFS= read -r line || [[ -n "$line" ]]; do
			variable=${line%%=*}
			value=${line#*=}
			if [[ "$line" == *=* && "$variable" =~ PASSWORD|SECRET|KEY|TOKEN ]]; then
				printf '%s=<%s characters, hidden>\n' "$variable" "${#value}"
			else
				printf '%s\n' "$line"
			fi
		done <"$file"
		;;
	*)
		printf -- '--- %s: %s bytes, not shown because it is a secret\n' "$name" "$(wc -c <"$file" | tr -d ' ')"
		;;
	esac
done

if [[ "$sync_status" != 0 ]]; then
	fail "secrets-sync sync failed with exit status $sync_status"
fi
step "demo finished; the output stays in $work_dir until the next run"
