#!/usr/bin/env bash
# Install snapshot, measured: two replicas of three ingest ACCOUNTS accounts and TRANSFERS
# transfers with --prune-archives while the third is down; then the third starts with an empty
# log, is streamed the leader's snapshot and the tail, and the time until it has applied the
# leader's commit op is printed with the snapshot's size. Only processes this script starts are
# stopped, by PID. Usage: scripts/bench-install-snapshot.sh [ACCOUNTS] [TRANSFERS]
set -euo pipefail
cd "$(dirname "$0")/.."

WALLET=${WALLET:-.build/release/wallet}
ACCOUNTS=${1:-1000000}
TRANSFERS=${2:-5000000}
DATA=${DATA:-bench-install-data}
PORT_BASE=${PORT_BASE:-7401}
CLUSTER_ID=9
INTERVAL=$((TRANSFERS / 3))
addresses="127.0.0.1:$PORT_BASE,127.0.0.1:$((PORT_BASE + 1)),127.0.0.1:$((PORT_BASE + 2))"

rm -rf "$DATA"
mkdir -p "$DATA"
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

"$WALLET" gen --accounts "$ACCOUNTS" --transfers "$TRANSFERS" --transfers-per-file "$TRANSFERS" --seed 5 --out "$DATA/gen" >/dev/null
start_replica() {
    "$WALLET" start --data "$DATA/replica-$1" --replica "$1" --addresses "$addresses" --prune-archives \
        --snapshot-interval-transfers "$INTERVAL" --snapshots-retained 1 \
        --accounts-capacity "$ACCOUNTS" --transfers-capacity "$((TRANSFERS + 1000))" >>"$DATA/replica-$1.log" 2>&1 &
    pids+=($!)
}
for i in 0 1 2; do
    # Replica 0 makes the cluster key; the others are formatted with it, and the CLI proves it.
    key_args=(); if [[ $i -gt 0 ]]; then key_args=(--cluster-key-file "$DATA/replica-0/cluster-key"); fi
    "$WALLET" format --data "$DATA/replica-$i" --cluster "$CLUSTER_ID" --replica "$i" --replica-count 3 --segment-size-mib 64 >/dev/null "${key_args[@]}"
    export WALLET_KEY_FILE="$DATA/replica-0/cluster-key"
done
start_replica 0
start_replica 1
for _ in $(seq 1 200); do
    if "$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID" --timeout-ms 200 2>/dev/null | grep -q leader; then break; fi
    sleep 0.1
done
"$WALLET" ingest --addresses "$addresses" --cluster "$CLUSTER_ID" --clients 2 "$DATA/gen/accounts.wbatch" "$DATA/gen/transfers-000001.wbatch" >/dev/null 2>&1
# Wait until both running replicas pruned: the leader's log no longer starts at op 1.
for _ in $(seq 1 600); do
    if [[ -f "$DATA/replica-0/log/base" && -f "$DATA/replica-1/log/base" ]]; then break; fi
    sleep 0.1
done
commit=$("$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID" --json | python3 -c 'import json,sys; print(max(r.get("commit_op", 0) for r in json.load(sys.stdin)["replicas"]))')
snapshot=$(ls -1 "$DATA/replica-0/snapshots/"*.wsnap | tail -1)
snapshot_bytes=$(stat -c %s "$snapshot")
echo "leader state: $TRANSFERS transfers, commit op $commit; snapshot $(basename "$snapshot"): $snapshot_bytes bytes; archives left: $(ls "$DATA/replica-0/log" | grep -c wlza || true)"

start_ns=$(date +%s%N)
start_replica 2
applied=0
for _ in $(seq 1 1200); do
    applied=$("$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID" --json --timeout-ms 500 2>/dev/null \
        | python3 -c 'import json,sys; print(next((r["applied_op"] for r in json.load(sys.stdin)["replicas"] if r["replica"] == 2), 0))' 2>/dev/null || echo 0)
    if [[ "$applied" -ge "$commit" ]]; then break; fi
    if [[ -n "${TRACE:-}" ]]; then echo "$(( ($(date +%s%N) - start_ns) / 1000000 )) ms: replica 2 applied op $applied; $(tail -n 1 "$DATA/replica-2.log" | cut -c1-60); $(grep -v archived "$DATA/replica-1.log" "$DATA/replica-0.log" | tail -n 1 | cut -c1-90)"; fi
    sleep 0.05
done
end_ns=$(date +%s%N)
elapsed_ms=$(((end_ns - start_ns) / 1000000))
echo "replica 2: start to applied op $applied (>= $commit): $elapsed_ms ms for a $snapshot_bytes-byte snapshot ($((snapshot_bytes / 1024 / 1024 * 1000 / (elapsed_ms > 0 ? elapsed_ms : 1))) MiB/s end to end)"
grep -E "receiving the snapshot|installed the snapshot" "$DATA/replica-2.log" || true
grep -E "sending the snapshot" "$DATA/replica-0.log" "$DATA/replica-1.log" | tail -2 || true
"$WALLET" status --addresses "$addresses" --cluster "$CLUSTER_ID"
