#!/usr/bin/env bash
# CPU per row against its floor: the HTTP client alone, paced as a run paces it.
#
# A row of `run.sh` costs two requests (a create and a poll). This sends 2 × ROWS progress calls
# with the crate's own client (`batchgen-aistudios`, reqwest) and nothing else — no engine, no
# journal, no manifest — one every 1/RATE s, each on a task of its own, against the same sandbox,
# and prints the client's CPU per two requests. Then it runs `run.sh` (the whole `batchgen run`,
# FAIL_RATE=0) and prints its CPU per row. REPEAT rounds alternate the two, so both are measured
# in the same minutes (this VM's speed drifts by a third from hour to hour).
#
# Usage: benches/dispatch/client_floor.sh   (ROWS=1000 RATE=100 REPEAT=2)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../sandbox_url.sh
source benches/sandbox_url.sh

ROWS=${ROWS:-1000}
RATE=${RATE:-100}
REPEAT=${REPEAT:-2}

cargo build --release -p batchgen -p batchgen-aistudios --example requests >&2
WORK=$(mktemp -d)
trap 'kill -INT "$SANDBOX_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# No rate limit to speak of: the pace is the client's own, as in a run with `--rate $RATE`.
target/release/batchgen sandbox --listen 127.0.0.1:0 --rate-limit 100000 \
  --fail-probability 0 --seed 1 >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
URL=$(sandbox_url "$WORK/sandbox.log") || exit 1

for round in $(seq "$REPEAT"); do
  /usr/bin/time -f "%U %S" -o "$WORK/time.txt" \
    target/release/examples/requests "$URL" sandbox-key $((2 * ROWS)) 8 "$RATE" >/dev/null
  read -r user sys <"$WORK/time.txt"
  python3 -c "
cpu = $user + $sys
print(f'round $round  client alone   {2 * $ROWS} requests at $RATE/s: cpu {cpu:.2f} s = {cpu / $ROWS * 1000:.3f} ms per two requests')"
  FAIL_RATE=0 ROWS=$ROWS RATE=$RATE benches/dispatch/run.sh 2>/dev/null |
    sed -n "s/^cpu (user+sys) *\(.*\)/round $round  batchgen run   $ROWS rows at $RATE\/s:       cpu \1/p"
done
