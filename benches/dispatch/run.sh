#!/usr/bin/env bash
# Dispatch benchmark: 1,000 rows against the sandbox (rate limit 100/s, renders 1-5 s,
# 5% of API calls answered 500), `batchgen run --rate 100 --max-in-flight 1000`.
#
# Prints makespan, the floor set by the rate (requests needed / rate + longest render, with
# requests needed = rows x (1 submit + 1 poll)), their ratio, requests and polls per row,
# 429s, CPU time per row and peak RSS. Usage: benches/dispatch/run.sh   (ROWS=, RATE= to vary)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../sandbox_url.sh
source benches/sandbox_url.sh

ROWS=${ROWS:-1000}
RATE=${RATE:-100}
RENDER=${RENDER:-1s..5s}
LONGEST_RENDER=${LONGEST_RENDER:-5}
FAIL_RATE=${FAIL_RATE:-0.05}
SEED=${SEED:-1}

cargo build --release -p batchgen >&2
BIN=target/release/batchgen
WORK=$(mktemp -d)
trap 'kill -INT "$SANDBOX_PID" 2>/dev/null || true; sleep 0.5; kill "$SANDBOX_PID" 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT

"$BIN" sandbox --listen 127.0.0.1:0 --rate-limit "$RATE" --render-time "$RENDER" \
  --fail-probability "$FAIL_RATE" --seed "$SEED" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
URL=$(sandbox_url "$WORK/sandbox.log") || exit 1

python3 - "$ROWS" >"$WORK/people.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("email,first_name,company,manager")
for i in range(n):
    print(f"p{i}@example.com,Person {i},Company {i % 37},Alex")
PY

START=$(date +%s.%N)
set +e
AISTUDIOS_API_KEY=sandbox-key /usr/bin/time -v "$BIN" run "$WORK/people.csv" templates/welcome.json \
  --key email --out "$WORK/out" --base-url "$URL" --rate "$RATE" --max-in-flight 1000 \
  --summary-json "$WORK/summary.json" -q 2>"$WORK/time.txt"
CODE=$?
set -e
END=$(date +%s.%N)
curl -s "$URL/__sandbox/stats" >"$WORK/stats.json"

python3 - "$WORK" "$ROWS" "$RATE" "$LONGEST_RENDER" "$START" "$END" "$CODE" <<'PY'
import json, re, sys
work, rows, rate, longest, start, end, code = sys.argv[1:]
rows, rate, longest = int(rows), float(rate), float(longest)
makespan = float(end) - float(start)
time_txt = open(f"{work}/time.txt").read()
def field(name):
    return float(re.search(rf"{re.escape(name)}: ([0-9.]+)", time_txt).group(1))
cpu = field("User time (seconds)") + field("System time (seconds)")
rss_mb = field("Maximum resident set size (kbytes)") / 1024
stats = json.load(open(f"{work}/stats.json"))
summary = json.load(open(f"{work}/summary.json"))
needed = rows * 2
floor = needed / rate + longest
st = summary["statuses"]
print(f"rows                 {rows} (exit {code}: {st['ready']} ready, {st['failed']} failed, {st['invalid']} invalid, {st['pending']} pending)")
print(f"makespan             {makespan:.2f} s")
print(f"floor                {floor:.2f} s  (= {needed} requests needed (rows x (1 submit + 1 poll)) / {rate:g}/s + {longest:g} s longest render)")
print(f"ratio                {makespan / floor:.3f}")
print(f"requests per row     {stats['requests'] / rows:.3f}  (server-side count, 500s and retries included)")
print(f"polls per row        {stats['polls'] / rows:.3f}")
print(f"429s                 {stats['rate_limited']}")
print(f"faults (500)         {stats['faults_500']}")
print(f"peak requests/s      {stats['peak_requests_per_second']} (server, at handling) / {summary['peak_requests_per_window']} (client, at sending)")
print(f"duplicates           names {stats['duplicate_names']}, bodies {stats['duplicate_bodies']}")
print(f"cpu (user+sys)       {cpu:.2f} s = {cpu / rows * 1000:.3f} ms per row")
print(f"peak rss             {rss_mb:.1f} MB")
PY
