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
    "$WALLET" start --data "$DATA/replica-$i" --replica "$i" --addresses "$addresses" >"$DATA/replica-$i.log" 2>&1 &
    pids+=($!)
done

echo "waiting for a leader on $addresses ..."
for _ in $(seq 1 100); do
    if "$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID" 2>/dev/null | grep -q leader; then break; fi
    sleep 0.1
done

"$WALLET" ingest --addresses "$addresses" --cluster "$CLUSTER_ID" data/accounts.csv data/transfers.csv
echo
for account in 1 2 3 4 101 103 104; do
    "$WALLET" balance --addresses "$addresses" --cluster "$CLUSTER_ID" "$account"
done
echo
sleep 0.3
"$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID"

if [[ "${KEEP:-0}" == "1" ]]; then
    echo
    echo "cluster serving on $addresses (cluster $CLUSTER_ID); Ctrl-C stops it"
    wait
fi
