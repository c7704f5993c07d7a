#!/usr/bin/env bash
# Discovery benchmark (issue 10 item 5 a/b): `batchgen run` with no --rate (the adaptive
# budget) against sandboxes whose rate limit is hidden (no Retry-After, no RateLimit-*
# headers), beside the same run with --rate set to the true limit (the oracle); then a limit
# that drops from 50/s to 10/s halfway.
#
# For each run: makespan, the floor (requests needed / limit + longest render, requests
# needed = rows x (1 submit + 1 poll)), their ratio, the 429 share of all requests.
#
# Usage: benches/dispatch/discovery.sh
#   LIMITS="2 10 50 200" ROWS=1000 (rows per limit; ROWS_2=rows at 2/s), RENDER=1s..5s,
#   FAIL=0.05, BIN=target/release/batchgen (built if it is the default), DROP=1 for part (b).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../sandbox_url.sh
source benches/sandbox_url.sh

LIMITS=${LIMITS:-"2 10 50 200"}
ROWS=${ROWS:-1000}
ROWS_2=${ROWS_2:-$ROWS}
RENDER=${RENDER:-1s..5s}
LONGEST=${LONGEST:-5}
FAIL=${FAIL:-0.05}
DROP=${DROP:-1}
BIN=${BIN:-target/release/batchgen}
[ "$BIN" = target/release/batchgen ] && cargo build --release -p batchgen >&2
WORK=$(mktemp -d)
SANDBOX_PID=
cleanup() { [ -n "$SANDBOX_PID" ] && kill -INT "$SANDBOX_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

csv() {
  python3 - "$1" >"$WORK/people.csv" <<'PY'
import sys
print("email,first_name,company,manager")
for i in range(int(sys.argv[1])):
    print(f"p{i}@example.com,Person {i},Company {i % 37},Alex")
PY
}

# run LABEL ROWS RATE_LIMIT_SCHEDULE FLOOR [run flags...]
run() {
  local label=$1 rows=$2 schedule=$3 floor=$4; shift 4
  "$BIN" sandbox --listen 127.0.0.1:0 --rate-limit "$schedule" --limit-headers none \
    --render-time "$RENDER" --fail-probability "$FAIL" --seed 1 >"$WORK/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  local url
  url=$(sandbox_url "$WORK/sandbox.log") || exit 1
  csv "$rows"
  rm -rf "$WORK/out"
  local start end code
  start=$(date +%s.%N)
  set +e
  AISTUDIOS_API_KEY=sandbox-key "$BIN" run "$WORK/people.csv" templates/welcome.json \
    --key email --out "$WORK/out" --base-url "$url" --poll-interval 1s --poll-cap 5s \
    --max-attempts 10 -q "$@" >/dev/null 2>"$WORK/err.txt"
  code=$?
  set -e
  end=$(date +%s.%N)
  curl -s "$url/__sandbox/stats" >"$WORK/stats.json"
  kill -INT "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  SANDBOX_PID=
  python3 - "$WORK/stats.json" "$label" "$rows" "$start" "$end" "$floor" "$code" <<'PY'
import json, sys
stats, label, rows, start, end, floor, code = sys.argv[1:]
s = json.load(open(stats))
makespan = float(end) - float(start)
floor = float(floor)
share = s["rate_limited"] / max(1, s["requests"])
print(f"{label:<28} rows {rows:>5}  exit {code}  makespan {makespan:8.1f} s  floor {floor:7.1f} s  "
      f"ratio {makespan / floor:5.2f}  429s {s['rate_limited']:>5} of {s['requests']:>6} ({share:6.2%})  "
      f"duplicates {s['duplicate_names']}")
PY
}

echo "# $(date -u +%FT%TZ)  renders $RENDER, ${FAIL} of calls answered 500, limits hidden (--limit-headers none)"
for limit in $LIMITS; do
  rows=$ROWS
  [ "$limit" = 2 ] && rows=$ROWS_2
  floor=$(python3 -c "print($rows * 2 / $limit + $LONGEST)")
  run "limit $limit/s, auto" "$rows" "$limit" "$floor"
  run "limit $limit/s, --rate $limit" "$rows" "$limit" "$floor" --rate "$limit"
done
if [ "$DROP" = 1 ]; then
  # (b) 50/s, then 10/s from halfway through the work: T such that 50 T = half the requests.
  rows=$ROWS
  half=$(python3 -c "print($rows / 50)")
  floor=$(python3 -c "print($half + ($rows * 2 - 50 * $half) / 10 + $LONGEST)")
  run "50/s then 10/s at ${half}s, auto" "$rows" "50,10@${half}s" "$floor"
fi
