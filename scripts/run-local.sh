#!/usr/bin/env bash
# `make run`: a fresh single-node data directory ingests the sample in data/, answers balance
# queries, and proves by replay that its state is what the log says.
set -euo pipefail
cd "$(dirname "$0")/.."

WALLET=${WALLET:-.build/release/wallet}
DATA=${DATA:-run-data}

rm -rf "$DATA"
"$WALLET" format --data "$DATA" --cluster 7
"$WALLET" ingest --data "$DATA" data/accounts.csv data/transfers.csv
echo
for account in 1 2 3 4 101 103 104; do
    "$WALLET" balance --data "$DATA" "$account"
done
echo
"$WALLET" verify --data "$DATA"
