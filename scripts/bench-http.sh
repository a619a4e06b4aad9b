#!/usr/bin/env bash
# `make bench-http`: the REST API under wrk (Debian's package) on 127.0.0.1, release build.
# A data directory with ACCOUNTS funded accounts is served by `wallet serve`; then, each for
# DURATION seconds with CONNECTIONS connections on THREADS wrk threads (1 by default: on two cores a
# second wrk thread takes the server's CPU, not load it harder):
#   0. bare SwiftNIO HTTP/1.1 answering a fixed 200 (`wallet http-baseline`): the machine's ceiling,
#      with the GET requests and with the POST requests of run 3
#   1. GET /healthz                      (the API's HTTP stack with no ledger work)
#   2. GET /v1/wallet/accounts/{random}  (read model)
#   3. POST /v1/wallet/balance_transfer  (random accounts, unique transaction ids: durable, applied)
#   4. GET /v1/wallet/accounts/{random}?at_op={random op of run 3}  (balance history), and a replay
# REPLICAS=3 runs the same against a 3-replica cluster, each replica serving the API (`wallet start
# --http`): reads from a follower, writes to the leader. Only processes this script starts are
# stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

WALLET=${WALLET:-.build/release/wallet}
DATA=${DATA:-bench-http-data}
PORT=${PORT:-8097}
ACCOUNTS=${ACCOUNTS:-100000}
DURATION=${DURATION:-10}
THREADS=${THREADS:-1}
READ_CONNECTIONS=${READ_CONNECTIONS:-64}
WRITE_CONNECTIONS=${WRITE_CONNECTIONS:-512}

command -v wrk >/dev/null 2>&1 || {
    echo "bench-http: installing wrk with apt-get" >&2
    SUDO=""; if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
}

REPLICAS=${REPLICAS:-1}
rm -rf "$DATA"
mkdir -p "$DATA"
"$WALLET" gen --accounts "$ACCOUNTS" --transfers "$ACCOUNTS" --transfers-per-file "$ACCOUNTS" --seed 3 --out "$DATA/gen" >/dev/null
pids=()
trap 'for pid in "${pids[@]}"; do kill $pid 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
if [[ "$REPLICAS" == "1" ]]; then
    "$WALLET" format --data "$DATA/node" >/dev/null
    "$WALLET" ingest --data "$DATA/node" "$DATA/gen/accounts.wbatch" "$DATA/gen/transfers-000001.wbatch" >/dev/null 2>&1
    "$WALLET" serve --data "$DATA/node" --http "127.0.0.1:$PORT" --in-flight-requests-max 65536 --connections-max 4096 >"$DATA/serve.log" 2>&1 &
    pids+=($!)
    READ_PORT=$PORT
    WRITE_PORT=$PORT
else
    # A cluster: each replica serves the API; reads go to a follower, writes to the leader's API.
    addresses=""
    for ((i = 0; i < REPLICAS; i++)); do addresses+="${addresses:+,}127.0.0.1:$((PORT + 100 + i))"; done
    for ((i = 0; i < REPLICAS; i++)); do
        # Replica 0 makes the cluster key; the others are formatted with it, and the CLI proves it.
        key_args=(); if [[ $i -gt 0 ]]; then key_args=(--cluster-key-file "$DATA/replica-0/cluster-key"); fi
        "$WALLET" format --data "$DATA/replica-$i" --cluster 5 --replica "$i" --replica-count "$REPLICAS" --segment-size-mib 64 >/dev/null "${key_args[@]}"
        export WALLET_KEY_FILE="$DATA/replica-0/cluster-key"
        "$WALLET" start --data "$DATA/replica-$i" --replica "$i" --addresses "$addresses" --http "127.0.0.1:$((PORT + i))" \
            --snapshot-interval-transfers 0 >"$DATA/replica-$i.log" 2>&1 &
        pids+=($!)
    done
    for _ in $(seq 1 100); do "$WALLET" status --addresses "$addresses" --cluster 5 2>/dev/null | grep -q leader && break; sleep 0.1; done
    "$WALLET" ingest --addresses "$addresses" --cluster 5 "$DATA/gen/accounts.wbatch" "$DATA/gen/transfers-000001.wbatch" >/dev/null 2>&1
    leader=$("$WALLET" status --addresses "$addresses" --cluster 5 --json | python3 -c 'import json,sys; print(next(r["replica"] for r in json.load(sys.stdin)["replicas"] if r.get("role") == "leader"))')
    WRITE_PORT=$((PORT + leader))
    READ_PORT=$((PORT + (leader + 1) % REPLICAS))
    echo "cluster of $REPLICAS: leader $leader; reads from replica $(((leader + 1) % REPLICAS)), writes to the leader's API"
fi
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$READ_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

cat >"$DATA/get.lua" <<LUA
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/wallet/accounts/" .. math.random(2, $ACCOUNTS))
end
LUA
# Each wrk thread numbers its transfers from its own range, so transaction ids never repeat.
cat >"$DATA/post.lua" <<LUA
local counter = 0
local thread_id = 0
local threads = 0
setup = function(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end
init = function(args)
  math.randomseed(os.time() + thread_id)
end
request = function()
  counter = counter + 1
  local from = math.random(2, $ACCOUNTS)
  local to = math.random(2, $ACCOUNTS)
  if to == from then to = (from % ($ACCOUNTS - 1)) + 2 end
  local body = '{"from_account":"' .. from .. '","to_account":"' .. to .. '","amount":"0.01","currency":"USD","transaction_id":"' .. (1000000000 + thread_id * 100000000 + counter) .. '"}'
  return wrk.format("POST", "/v1/wallet/balance_transfer", {["Content-Type"] = "application/json"}, body)
end
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  io.write(string.format("  errors: connect %d, read %d, write %d, status %d, timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
LUA

run() {
    echo "== $1"
    shift
    wrk "$@" | grep -E "Requests/sec|Latency  |  50%|  99%|Non-2xx|errors|requests in"
}
"$WALLET" http-baseline --http "127.0.0.1:$((PORT + 50))" >"$DATA/baseline.log" 2>&1 &
baseline_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$((PORT + 50))/" >/dev/null 2>&1 && break; sleep 0.1; done
run "bare SwiftNIO HTTP/1.1, fixed 200 (baseline: the ceiling of this machine)" -t"$THREADS" -c"$READ_CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$((PORT + 50))/"
run "bare SwiftNIO HTTP/1.1, fixed 200, the POST run's requests (baseline for run 3)" -t"$THREADS" -c"$WRITE_CONNECTIONS" -d"${DURATION}s" --latency -s "$DATA/post.lua" "http://127.0.0.1:$((PORT + 50))"
kill "$baseline_pid" 2>/dev/null || true
wait "$baseline_pid" 2>/dev/null || true
run "GET /healthz (the API's HTTP stack, no ledger work)" -t"$THREADS" -c"$READ_CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$READ_PORT/healthz"
run "GET /v1/wallet/accounts/{id} (read model, $ACCOUNTS accounts)" -t"$THREADS" -c"$READ_CONNECTIONS" -d"${DURATION}s" --latency -s "$DATA/get.lua" "http://127.0.0.1:$READ_PORT"
op_before=$(curl -s "http://127.0.0.1:$WRITE_PORT/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["op"])')
run "POST /v1/wallet/balance_transfer ($WRITE_CONNECTIONS connections, durable)" -t"$THREADS" -c"$WRITE_CONNECTIONS" -d"${DURATION}s" --latency -s "$DATA/post.lua" "http://127.0.0.1:$WRITE_PORT"
sleep 0.5
op_after=$(curl -s "http://127.0.0.1:$WRITE_PORT/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["op"])')
echo "  batches written during the POST run: $((op_after - op_before))"
# Past balances: at random ops the POST run wrote (the read model's balance history), and one
# from before the server started (a snapshot restore plus a replay of the log).
cat >"$DATA/past.lua" <<LUA
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/wallet/accounts/" .. math.random(2, $ACCOUNTS) .. "?at_op=" .. math.random($((op_before + 1)), $op_after))
end
LUA
run "GET /v1/wallet/accounts/{id}?at_op=N (balance history, ops $((op_before + 1))...$op_after)" -t"$THREADS" -c"$READ_CONNECTIONS" -d"${DURATION}s" --latency -s "$DATA/past.lua" "http://127.0.0.1:$READ_PORT"
if [[ "$REPLICAS" == "1" ]]; then
    echo "== GET /v1/wallet/accounts/{id}?at_op=2 (before the window: replayed), 3 times"
    for _ in 1 2 3; do
        curl -s -w "  HTTP %{http_code} in %{time_total} s\n" "http://127.0.0.1:$READ_PORT/v1/wallet/accounts/5?at_op=2" | sed -e 's/^{.*"source":"\([a-z_]*\)".*}/  source: \1\n/'
    done
fi
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
trap - EXIT
if [[ "$REPLICAS" == "1" ]]; then "$WALLET" verify --data "$DATA/node" | tail -1; fi
rm -rf "$DATA"
