#!/usr/bin/env bash
# Comparative render benchmark: 100,000 rows of templates/two-scene-promo.json.
#   (a) batchgen render (release), JSONL to /dev/null, and with --out to disk
#   (b) a naive Python script (parse template, substitute, dump per row) to /dev/null
#   (c) serde_json serialising the same 100,000 already-built documents, one thread (the floor)
# Usage: benches/render/run.sh [ROWS] [RUNS]      (defaults 100000 and 3; prints medians)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-100000}
RUNS=${2:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p batchgen --bin batchgen
cargo build --release -q -p batchgen-core --example serialize_floor
BG=target/release/batchgen
FLOOR=target/release/examples/serialize_floor
T=templates/two-scene-promo.json

python3 benches/render/gen_rows.py "$ROWS" > "$WORK/data.csv"
"$BG" render "$WORK/data.csv" "$T" --key customer_id -q > "$WORK/projects.jsonl"

# Same projects from (a) and (b)?
head -n 1001 "$WORK/data.csv" > "$WORK/first.csv"
python3 benches/render/naive.py "$WORK/first.csv" "$T" > "$WORK/naive.jsonl"
python3 - "$WORK/projects.jsonl" "$WORK/naive.jsonl" <<'PY'
import json, sys, itertools
a = open(sys.argv[1]); b = open(sys.argv[2])
n = 0
for la, lb in zip(a, b):
    assert json.loads(la) == json.loads(lb), f"row {n + 1} differs"
    n += 1
print(f"check: the first {n} projects of (a) and (b) are equal")
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_cmd() { # runs "$@" RUNS times, prints the median wall time in seconds
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N)
    echo "$e - $s" | bc -l
  done | median
}

a=$(time_cmd "$BG" render "$WORK/data.csv" "$T" --key customer_id -q)
a_disk=$(time_cmd "$BG" render "$WORK/data.csv" "$T" --key customer_id -q --out "$WORK/out")
b=$(time_cmd python3 benches/render/naive.py "$WORK/data.csv" "$T")
c=$(for _ in $(seq "$RUNS"); do "$FLOOR" "$WORK/projects.jsonl" 2>&1 >/dev/null | sed -E 's/.* in ([0-9.]+) s.*/\1/'; done | median)

size=$(du -m "$WORK/projects.jsonl" | cut -f1)
printf '%s rows, %s MB of JSONL, %s cores, median of %s runs\n' "$ROWS" "$size" "$(nproc)" "$RUNS"
printf '(a)  batchgen render > /dev/null        %8.3f s  %6.2f µs/row\n' "$a" "$(echo "$a*1000000/$ROWS" | bc -l)"
printf '(a2) batchgen render --out DIR (disk)   %8.3f s  %6.2f µs/row\n' "$a_disk" "$(echo "$a_disk*1000000/$ROWS" | bc -l)"
printf '(b)  naive Python > /dev/null           %8.3f s  %6.2f µs/row\n' "$b" "$(echo "$b*1000000/$ROWS" | bc -l)"
printf '(c)  serde_json serialise only          %8.3f s  %6.2f µs/row\n' "$c" "$(echo "$c*1000000/$ROWS" | bc -l)"
printf '(b)/(a) = %.1fx   (c)/(a) = %.2fx\n' "$(echo "$b/$a" | bc -l)" "$(echo "$c/$a" | bc -l)"
