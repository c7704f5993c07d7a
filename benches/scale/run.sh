#!/usr/bin/env bash
# Scale-out benchmark (issue 13 item 6): 4 `batchgen run` worker processes on one API key, one
# run in PostgreSQL (--store) and one request budget in Redis (--shared-budget), against a
# sandbox limited to 40 requests/s (limit hidden: no Retry-After, no RateLimit-* headers),
# 2,000 rows, renders 1-5 s. Twice: all four to the end, then with worker 1 killed with
# `kill -9` once half the rows have been created.
#
# Prints per scenario: makespan, the aggregate request rate against the limit, the most
# requests the server saw in any one second, 429s, creates and duplicates (the sandbox's own
# counters), and how the rows ended (`batchgen status --store --json`).
#
# Usage: benches/scale/run.sh   (ROWS=2000 LIMIT=40 WORKERS=4 RATE=40 LEASE=10s
#                                 BIN=target/release/batchgen, built if it is the default,
#                                 SCENARIOS="all kill9")
# LIMIT may be a schedule in the sandbox's syntax, e.g. LIMIT=50,10@40s (50/s, then 10/s from
# 40 s on); the floor (2 requests per row served at the schedule's rates, plus the longest
# render of 5 s) is then that schedule's.
# Starts its own PostgreSQL and Redis with the project's .ci/postgres.sh and .ci/redis.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../sandbox_url.sh
source benches/sandbox_url.sh

ROWS=${ROWS:-2000}
LIMIT=${LIMIT:-40}
WORKERS=${WORKERS:-4}
RATE=${RATE:-$LIMIT}
SCENARIOS=${SCENARIOS:-all kill9}
LEASE=${LEASE:-10s}
BIN=${BIN:-target/release/batchgen}
[ "$BIN" = target/release/batchgen ] && cargo build --release -p batchgen >&2
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
SANDBOX_PID=
bench_cleanup() {
  if [ -n "$SANDBOX_PID" ]; then kill -INT "$SANDBOX_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap bench_cleanup EXIT
# (each chains its own stop onto the EXIT trap)
# shellcheck source=../../.ci/redis.sh
source .ci/redis.sh >&2
# shellcheck source=../../.ci/postgres.sh
source .ci/postgres.sh >&2

python3 - "$ROWS" >"$WORK/people.csv" <<'PY'
import sys
print("email,first_name,company,manager")
for i in range(int(sys.argv[1])):
    print(f"p{i}@example.com,Person {i},Company {i % 37},Alex")
PY

# scenario LABEL KILL(0|1)
scenario() {
  local label=$1 kill=$2 run="bench-$1"
  "$BIN" sandbox --listen 127.0.0.1:0 --rate-limit "$LIMIT" --limit-headers none \
    --render-time 1s..5s --seed 3 >"$WORK/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  local url
  url=$(sandbox_url "$WORK/sandbox.log") || exit 1
  local start end pids=() i
  start=$(date +%s.%N)
  for i in $(seq "$WORKERS"); do
    AISTUDIOS_API_KEY=sandbox-key BATCHGEN_STORE="$BATCHGEN_TEST_POSTGRES_URL" "$BIN" run \
      "$WORK/people.csv" templates/welcome.json --key email --out "$WORK/$label-w$i" \
      --run "$run" --lease "$LEASE" --shared-budget "$BATCHGEN_TEST_REDIS_URL" \
      --rate "$RATE" --base-url "$url" -q >"$WORK/$label-w$i.log" 2>&1 &
    pids+=($!)
  done
  if [ "$kill" = 1 ]; then
    while :; do
      local made
      made=$(curl -s "$url/__sandbox/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["submissions"])')
      [ "$made" -ge $((ROWS / 2)) ] && break
      sleep 0.2
    done
    kill -9 "${pids[0]}"
    echo "# $label: killed worker 1 (pid ${pids[0]}) with kill -9 at $made creates" >&2
  fi
  local codes=()
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then codes+=(0); else codes+=($?); fi
  done
  end=$(date +%s.%N)
  curl -s "$url/__sandbox/stats" >"$WORK/stats.json"
  AISTUDIOS_API_KEY=sandbox-key "$BIN" status --store "$BATCHGEN_TEST_POSTGRES_URL" --run "$run" --json \
    >"$WORK/status.json" 2>/dev/null || true
  kill -INT "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  SANDBOX_PID=
  python3 - "$WORK" "$label" "$ROWS" "$LIMIT" "$start" "$end" "${codes[*]}" <<'PY'
import json, sys
work, label, rows, limit, start, end, codes = sys.argv[1:]
s = json.load(open(f"{work}/stats.json"))
try:
    st = json.load(open(f"{work}/status.json"))
except Exception:
    st = {}
makespan = float(end) - float(start)
rate = s["requests"] / makespan
# The floor: 2 requests per row at the schedule's rates ("50" or "50,10@40s"), plus 5 s.
steps = []
for part in limit.split(","):
    r, _, at = part.partition("@")
    steps.append((float(at.rstrip("s")) if at else 0.0, float(r)))
need, t, floor = rows and int(rows) * 2, 0.0, None
for i, (at, r) in enumerate(steps):
    until = steps[i + 1][0] if i + 1 < len(steps) else float("inf")
    if need <= r * (until - at):
        floor = at + need / r + 5
        break
    need -= r * (until - at)
against = f"{rate / float(limit):5.1%} of {limit}/s" if len(steps) == 1 else f"limit {limit}"
counts = st.get("statuses", st)
ended = ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int) and v) if counts else "status unreadable"
print(f"{label:<10} exits [{codes}]  makespan {makespan:6.1f} s  requests {s['requests']}  "
      f"aggregate {rate:5.1f}/s = {against}  floor {floor:.1f} s ({makespan / floor:.2f}x)  peak {s['peak_requests_per_second']}/s  "
      f"429s {s['rate_limited']}  creates {s['submissions']} for {rows} rows  duplicates names {s['duplicate_names']} bodies {s['duplicate_bodies']}  rows: {ended}")
PY
}

echo "# $(date -u +%FT%TZ)  $WORKERS workers, $ROWS rows, sandbox limit $LIMIT/s (hidden), renders 1s..5s, --rate $RATE --shared-budget --store, lease $LEASE"
for s in $SCENARIOS; do
  case $s in
    all) scenario all 0 ;;
    kill9) scenario kill9 1 ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
