#!/usr/bin/env bash
# Lost answers (issue 10 item 5 c): the sandbox handles 3 % of API calls (creates included) and
# then leaves them unanswered, lists only exported projects (as the vendor does), and renders
# take 20-60 s. `batchgen run` (default --rate auto, no flags) must look every lost create up
# patiently and never pay twice: the sandbox's duplicate counters must be 0.
#
# Usage: benches/dispatch/lost.sh   (ROWS=300, LOST=0.03, RENDER=20s..60s, LIMIT=50,
#                                     BIN=target/release/batchgen, built if it is the default)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../sandbox_url.sh
source benches/sandbox_url.sh

ROWS=${ROWS:-300}
LOST=${LOST:-0.03}
RENDER=${RENDER:-20s..60s}
LIMIT=${LIMIT:-50}
SEED=${SEED:-7}
BIN=${BIN:-target/release/batchgen}
[ "$BIN" = target/release/batchgen ] && cargo build --release -p batchgen >&2
WORK=$(mktemp -d)
SANDBOX_PID=
trap '[ -n "$SANDBOX_PID" ] && kill -INT "$SANDBOX_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

"$BIN" sandbox --listen 127.0.0.1:0 --rate-limit "$LIMIT" --limit-headers none \
  --render-time "$RENDER" --lost-probability "$LOST" --seed "$SEED" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
URL=
URL=$(sandbox_url "$WORK/sandbox.log") || exit 1

python3 - "$ROWS" >"$WORK/people.csv" <<'PY'
import sys
print("email,first_name,company,manager")
for i in range(int(sys.argv[1])):
    print(f"p{i}@example.com,Person {i},Company {i % 37},Alex")
PY

START=$(date +%s.%N)
set +e
AISTUDIOS_API_KEY=sandbox-key /usr/bin/time -v "$BIN" run "$WORK/people.csv" templates/welcome.json \
  --key email --out "$WORK/out" --base-url "$URL" --summary-json "$WORK/summary.json" -q \
  >/dev/null 2>"$WORK/time.txt"
CODE=$?
set -e
END=$(date +%s.%N)
curl -s "$URL/__sandbox/stats" >"$WORK/stats.json"

python3 - "$WORK" "$ROWS" "$START" "$END" "$CODE" "$RENDER" "$LOST" <<'PY'
import json, re, sys
work, rows, start, end, code, render, lost = sys.argv[1:]
s = json.load(open(f"{work}/stats.json"))
summary = json.load(open(f"{work}/summary.json"))
st = summary["statuses"]
t = open(f"{work}/time.txt").read()
cpu = sum(float(re.search(rf"{k}: ([0-9.]+)", t).group(1)) for k in ("User time \\(seconds\\)", "System time \\(seconds\\)"))
print(f"rows {rows}, renders {render}, {float(lost):.0%} of calls lost, list shows exported projects only")
print(f"exit {code}: {st['ready']} ready, {st.get('unknown', 0)} unknown, {st['failed']} failed, {st['pending']} pending")
print(f"makespan {float(end) - float(start):.1f} s, cpu {cpu:.2f} s ({cpu / int(rows) * 1000:.2f} ms per row)")
print(f"requests {s['requests']}, creates {s['submissions']}, lost answers {s['faults_lost']}, polls {s['polls']}, 429s {s['rate_limited']}")
print(f"projects {s['projects']}, duplicates: names {s['duplicate_names']}, bodies {s['duplicate_bodies']}")
PY
