#!/usr/bin/env bash
# Webhooks versus polling: 1,000 rows against the sandbox (rate limit 100/s, renders 1-5 s,
# 5% of API calls answered 500), the same as benches/dispatch, run once polling and once with
# `--webhook-listen 127.0.0.1:0` (the sandbox calls the receiver back when each render ends;
# polling is then a safety net from 60 s).
#
# Prints, per mode: makespan, requests and polls per row (server-side counts), 429s, webhook
# counts, CPU time per row and peak RSS of `batchgen run`.
# Usage: benches/webhooks/run.sh     (MODES="poll webhook", ROWS=, RATE=, RENDER=, FAIL_RATE=,
#                                     SEED=, WEBHOOK_DUPLICATE_RATE=, KEEP=1 to keep the work directory, BIN= to time
#                                     another build of batchgen instead of building this one)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../sandbox_url.sh
source benches/sandbox_url.sh

ROWS=${ROWS:-1000}
RATE=${RATE:-100}
RENDER=${RENDER:-1s..5s}
FAIL_RATE=${FAIL_RATE:-0.05}
SEED=${SEED:-1}
WEBHOOK_DUPLICATE_RATE=${WEBHOOK_DUPLICATE_RATE:-0}
MODES=${MODES:-poll webhook}

if [ -z "${BIN:-}" ]; then
  cargo build --release -p batchgen >&2
  BIN=target/release/batchgen
fi
WORK=$(mktemp -d)
SANDBOX_PID=
stop_sandbox() {
  if [ -n "$SANDBOX_PID" ]; then
    kill -INT "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
    SANDBOX_PID=
  fi
}
trap 'stop_sandbox; [ -n "${KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT

python3 - "$ROWS" >"$WORK/people.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("email,first_name,company,manager")
for i in range(n):
    print(f"p{i}@example.com,Person {i},Company {i % 37},Alex")
PY

for MODE in $MODES; do
  # A fresh sandbox per mode, same seed: the same faults for the same requests.
  "$BIN" sandbox --listen 127.0.0.1:0 --rate-limit "$RATE" --render-time "$RENDER" \
    --fail-probability "$FAIL_RATE" --webhook-duplicate-probability "$WEBHOOK_DUPLICATE_RATE" --seed "$SEED" \
    >"$WORK/sandbox-$MODE.log" 2>&1 &
  SANDBOX_PID=$!
  URL=
  URL=$(sandbox_url "$WORK/sandbox-$MODE.log") || exit 1

  EXTRA=()
  [ "$MODE" = webhook ] && EXTRA=(--webhook-listen 127.0.0.1:0)
  START=$(date +%s.%N)
  set +e
  AISTUDIOS_API_KEY=sandbox-key /usr/bin/time -v "$BIN" run "$WORK/people.csv" templates/welcome.json \
    --key email --out "$WORK/out-$MODE" --base-url "$URL" --rate "$RATE" --max-in-flight 1000 \
    "${EXTRA[@]}" --summary-json "$WORK/summary-$MODE.json" -q 2>"$WORK/time-$MODE.txt"
  CODE=$?
  set -e
  END=$(date +%s.%N)
  sleep 0.5 # second webhook deliveries, if any, before the stats are read
  curl -s "$URL/__sandbox/stats" >"$WORK/stats-$MODE.json"
  stop_sandbox

  python3 - "$WORK" "$MODE" "$ROWS" "$START" "$END" "$CODE" <<'PY'
import json, re, sys
work, mode, rows, start, end, code = sys.argv[1:]
rows = int(rows)
makespan = float(end) - float(start)
t = open(f"{work}/time-{mode}.txt").read()
def field(name):
    return float(re.search(rf"{re.escape(name)}: ([0-9.]+)", t).group(1))
cpu = field("User time (seconds)") + field("System time (seconds)")
rss = field("Maximum resident set size (kbytes)") / 1024
st = json.load(open(f"{work}/stats-{mode}.json"))
s = json.load(open(f"{work}/summary-{mode}.json"))
c = s["statuses"]
print(f"== {mode}")
print(f"rows                 {rows} (exit {code}: {c['ready']} ready, {c['failed']} failed, {c['invalid']} invalid, {c['pending']} pending)")
print(f"makespan             {makespan:.2f} s")
print(f"requests per row     {st['requests'] / rows:.3f}  (server-side count, 500s and retries included)")
pr = s["progress"]
print(f"  client-side        creates {pr['creates']}, polls {pr['polls']}, lookups {pr['lookups']}, retries {pr['retries']} (of {pr['requests']} requests)")
print(f"polls per row        {st['polls'] / rows:.3f}")
print(f"429s                 {st['rate_limited']}")
print(f"faults (500)         {st['faults_500']}")
print(f"peak requests/s      {st['peak_requests_per_second']} (server) / {s['peak_requests_per_window']} (client)")
if "webhooks" in s:
    w = s["webhooks"]
    print(f"webhooks             sandbox sent {st['webhooks_sent']}; receiver: {w['accepted']} accepted, {w['ignored']} ignored, {w['unauthorized']} refused; {s['progress']['webhooks']} renders ended by webhook")
print(f"duplicates           names {st['duplicate_names']}, bodies {st['duplicate_bodies']}")
print(f"cpu (user+sys)       {cpu:.2f} s = {cpu / rows * 1000:.3f} ms per row")
print(f"peak rss             {rss:.1f} MB")
PY
done
