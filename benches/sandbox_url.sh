# Sourced by the benchmarks: `URL=$(sandbox_url LOG) || exit 1` waits (up to 10 s) for a
# `batchgen sandbox` writing LOG to say where it listens, and prints its URL; if it never does,
# it shows the log on stderr and fails.
sandbox_url() {
  local log=$1 url=
  for _ in $(seq 200); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.05
  done
  cat "$log" >&2
  return 1
}
