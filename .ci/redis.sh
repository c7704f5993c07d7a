# A throwaway Redis for the tests that need one (`--shared-budget`): source it, don't run it.
#
#   source .ci/redis.sh      # sets BATCHGEN_TEST_REDIS_URL=redis://127.0.0.1:PORT/0
#
# Installs Debian's redis-server if it is missing, starts it on a free loopback port with no
# persistence in a temporary directory, waits until it answers PING and exports
# BATCHGEN_TEST_REDIS_URL. The server is stopped when the sourcing shell exits (an EXIT trap;
# an existing EXIT trap is kept). Tests read the variable: without it they say SKIPPED (or fail
# when BATCHGEN_CI=1).

batchgen_redis_start() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server (Debian package)"
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "redis.sh: redis-server is missing and there is no apt-get: install Redis 6.2 or later" >&2
      return 1
    fi
    # A fresh machine has no package lists yet.
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null || return 1
    # The package may have started a system server on 6379: tests never use it.
  fi
  local dir port i
  dir="$(mktemp -d "${TMPDIR:-/tmp}/batchgen-redis.XXXXXX")" || return 1
  # A free loopback port: ask the kernel for one (bind to port 0), then hand it to Redis.
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)"
  if [ -z "$port" ]; then port=$(( 20000 + RANDOM % 20000 )); fi
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --protected-mode yes --databases 16 >/dev/null || { cat "$dir/redis.log" >&2 2>/dev/null; return 1; }
  for i in $(seq 1 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      export BATCHGEN_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
      export BATCHGEN_TEST_REDIS_DIR="$dir"
      echo "== redis: $BATCHGEN_TEST_REDIS_URL (pid $(cat "$dir/redis.pid"), data in $dir)"
      return 0
    fi
    sleep 0.1
  done
  echo "redis.sh: redis-server on 127.0.0.1:$port did not answer within 10 s; its log:" >&2
  cat "$dir/redis.log" >&2 2>/dev/null
  return 1
}

batchgen_redis_stop() {
  local dir="${BATCHGEN_TEST_REDIS_DIR:-}"
  if [ -n "$dir" ] && [ -f "$dir/redis.pid" ]; then
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    rm -rf "$dir"
  fi
}

if batchgen_redis_start; then
  # Keep whatever EXIT trap the sourcing shell already has.
  batchgen_redis_prev_trap="$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")"
  trap "batchgen_redis_stop; ${batchgen_redis_prev_trap:-:}" EXIT
else
  echo "redis.sh: no Redis for the tests (the tests that need one fail in CI, say SKIPPED elsewhere)" >&2
fi
