#!/usr/bin/env bash
# `make run REPLICAS=3`: three replica processes on 127.0.0.1 form a Raft cluster; the client
# ingests the sample in data/ through it, reads balances linearizably, and every replica reports
# the same state digest. KEEP=1 leaves the cluster serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

WALLET=${WALLET:-.build/release/wallet}
DATA=${DATA:-run-cluster-data}
REPLICAS=${REPLICAS:-3}
PORT_BASE=${PORT_BASE:-7301}
CLUSTER_ID=${CLUSTER_ID:-7}
HTTP_PORT=${HTTP_PORT:-8080}

addresses=""
for ((i = 0; i < REPLICAS; i++)); do
    addresses+="${addresses:+,}127.0.0.1:$((PORT_BASE + i))"
done

rm -rf "$DATA"
mkdir -p "$DATA"
pids=()
stop() {
    # Only the replicas this script started, by PID.
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

for ((i = 0; i < REPLICAS; i++)); do
    # Replica 0 makes the cluster key; the others are formatted with it, and the CLI proves it.
    key_args=(); if [[ $i -gt 0 ]]; then key_args=(--cluster-key-file "$DATA/replica-0/cluster-key"); fi
    "$WALLET" format --data "$DATA/replica-$i" --cluster "$CLUSTER_ID" --replica "$i" --replica-count "$REPLICAS" --segment-size-mib 64 "${key_args[@]}"
    export WALLET_KEY_FILE="$DATA/replica-0/cluster-key"
    # Replica 0 also serves the REST API.
    http_args=(); if [[ $i -eq 0 ]]; then http_args=(--http "127.0.0.1:$HTTP_PORT"); fi
    "$WALLET" start --data "$DATA/replica-$i" --replica "$i" --addresses "$addresses" "${http_args[@]}" >"$DATA/replica-$i.log" 2>&1 &
    pids+=($!)
done

# Stop at the first failure: a replica that exits (a port in use, a bad flag) ends the run, and so
# does no leader within 30 s.
echo "waiting for a leader on $addresses ..."
leader=0
for _ in $(seq 1 300); do
    for ((i = 0; i < REPLICAS; i++)); do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            cat "$DATA/replica-$i.log" >&2
            echo "make run: replica $i exited (its log is above); nothing more is run" >&2
            exit 1
        fi
    done
    if "$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID" 2>/dev/null | grep -q leader \
        && grep -q "REST API on" "$DATA/replica-0.log"; then leader=1; break; fi
    sleep 0.1
done
if [[ $leader != 1 ]]; then
    echo "make run: no leader (or no REST API) within 30 s; the replicas' logs are in $DATA" >&2
    exit 1
fi

"$WALLET" ingest --addresses "$addresses" --cluster "$CLUSTER_ID" data/accounts.csv data/transfers.csv
echo
for account in 1 2 3 4 101 103 104; do
    "$WALLET" balance --addresses "$addresses" --cluster "$CLUSTER_ID" "$account"
done
echo
echo "GET /v1/wallet/accounts/101 (replica 0's REST API)"
curl -s "http://127.0.0.1:$HTTP_PORT/v1/wallet/accounts/101"; echo
echo "POST /v1/wallet/balance_transfer (and the same transaction_id again: answered, not applied twice)"
body='{"from_account":"101","to_account":"103","amount":"1.25","currency":"EUR","transaction_id":"8d9b2c2e-6c0e-4f4e-9a51-3b1f0e7c1a01"}'
curl -s -X POST "http://127.0.0.1:$HTTP_PORT/v1/wallet/balance_transfer" -d "$body"; echo
curl -s -X POST "http://127.0.0.1:$HTTP_PORT/v1/wallet/balance_transfer" -d "$body"; echo
echo
# Every replica applies what the leader committed; their digests agree once they catch up (bounded).
for _ in $(seq 1 50); do
    if [[ $("$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID" --json | grep -o '"applied_op":[0-9]*' | sort -u | wc -l) == 1 ]]; then break; fi
    sleep 0.1
done
"$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID"

if [[ "${KEEP:-0}" == "1" ]]; then
    echo
    echo "cluster serving on $addresses (cluster $CLUSTER_ID), REST API on http://127.0.0.1:$HTTP_PORT; Ctrl-C stops it"
    wait
fi
stop
trap - EXIT
# Each replica's data, replayed from its own log, gives the state it recorded when it stopped.
echo
for ((i = 0; i < REPLICAS; i++)); do
    echo "replica $i:"
    "$WALLET" verify --data "$DATA/replica-$i"
done
