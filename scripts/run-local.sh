#!/usr/bin/env bash
# `make run`: a fresh single-node data directory ingests the sample in data/, answers balance
# queries, serves the REST API on 127.0.0.1:${HTTP_PORT:-8080} (a transfer and reads through it),
# and proves by replay that its state is what the log says. KEEP=1 leaves the API serving.
set -euo pipefail
cd "$(dirname "$0")/.."

WALLET=${WALLET:-.build/release/wallet}
DATA=${DATA:-run-data}

rm -rf "$DATA" "$DATA.serve.log"
"$WALLET" format --data "$DATA" --cluster 7
"$WALLET" ingest --data "$DATA" data/accounts.csv data/transfers.csv
echo
for account in 1 2 3 4 101 103 104; do
    "$WALLET" balance --data "$DATA" "$account"
done
echo

PORT=${HTTP_PORT:-8080}
SERVE_LOG="$DATA.serve.log"
"$WALLET" serve --data "$DATA" --http "127.0.0.1:$PORT" >"$SERVE_LOG" 2>&1 &
server=$!
stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
trap stop EXIT
# Ready when our own serve says it listens (not when something answers on the port: another
# process may hold it); stop at once if serve exits, bounded at 30 s.
ready=0
for _ in $(seq 1 300); do
    if grep -q '^serving' "$SERVE_LOG"; then ready=1; break; fi
    if ! kill -0 "$server" 2>/dev/null; then break; fi
    sleep 0.1
done
cat "$SERVE_LOG"
if [[ $ready != 1 ]]; then
    echo "make run: wallet serve did not start (above: why); nothing more is run" >&2
    exit 1
fi
echo "GET /v1/wallet/accounts/101"
curl -s "http://127.0.0.1:$PORT/v1/wallet/accounts/101"; echo
echo "POST /v1/wallet/balance_transfer (and the same transaction_id again: answered, not applied twice)"
body='{"from_account":"101","to_account":"103","amount":"1.25","currency":"EUR","transaction_id":"8d9b2c2e-6c0e-4f4e-9a51-3b1f0e7c1a01"}'
curl -s -X POST "http://127.0.0.1:$PORT/v1/wallet/balance_transfer" -d "$body"; echo
curl -s -X POST "http://127.0.0.1:$PORT/v1/wallet/balance_transfer" -d "$body"; echo
echo "GET /v1/wallet/accounts/103"
curl -s "http://127.0.0.1:$PORT/v1/wallet/accounts/103"; echo
if [[ "${KEEP:-0}" == "1" ]]; then
    echo "serving http://127.0.0.1:$PORT (Ctrl-C stops it)"
    wait "$server"
fi
stop
trap - EXIT
echo
"$WALLET" verify --data "$DATA"
