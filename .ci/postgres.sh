#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and exports BATCHGEN_TEST_POSTGRES_URL.
# Source it (`source .ci/postgres.sh`): .ci/run does, before the tests; a developer does the same
# in their shell. It installs the Debian server only when it is missing, runs initdb into a
# temporary directory as an unprivileged user (postgres refuses to run as root), starts the
# server on a free loopback port (no Unix socket outside that directory, no TCP beyond
# 127.0.0.1), waits until it answers, and stops it when the sourcing shell exits.
# Tests isolate themselves on it: each one creates a database of its own.

_bg_pg_main() {
  local bin=""
  for v in 17 16 15 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then bin="/usr/lib/postgresql/$v/bin"; break; fi
  done
  if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "postgres.sh: installing postgresql (server binaries only)" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null; } \
        || { echo "postgres.sh: cannot install postgresql" >&2; return 1; }
      for v in 17 16 15 14 13; do
        if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then bin="/usr/lib/postgresql/$v/bin"; break; fi
      done
    fi
    [ -n "$bin" ] || { echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; return 1; }
  fi

  # Who runs the server: ourselves, unless we are root (then the `postgres` user, made if absent).
  local as=()
  local user
  user="$(id -un)"
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    as=(runuser -u "$user" --)
  fi

  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/batchgen-pg.XXXXXX")"
  chown "$user" "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  local pass
  pass="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s\n' "$pass" >"$dir/pwfile"
  chown "$user" "$dir/pwfile" 2>/dev/null || true
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U batchgen --pwfile="$dir/pwfile" -A scram-sha-256 \
    --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/pwfile"

  # A free loopback port: ask the kernel for one.
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000)))"
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 20 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
  local i
  for i in $(seq 1 100); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { cat "$dir/server.log" >&2; return 1; }

  export BATCHGEN_TEST_POSTGRES_URL="postgres://batchgen:$pass@127.0.0.1:$port/postgres"
  export BATCHGEN_TEST_POSTGRES_DIR="$dir"
  _bg_pg_stop_cmd="${as[*]} $bin/pg_ctl -D $dir/data -m immediate stop"
  echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir); BATCHGEN_TEST_POSTGRES_URL is set" >&2
}

_bg_pg_stop() {
  if [ -n "${_bg_pg_stop_cmd:-}" ]; then
    $_bg_pg_stop_cmd >/dev/null 2>&1 || true
    rm -rf "${BATCHGEN_TEST_POSTGRES_DIR:-/nonexistent-batchgen-pg}"
    _bg_pg_stop_cmd=""
  fi
}

if _bg_pg_main; then
  # Chained to an EXIT trap already set (e.g. by .ci/redis.sh), not replacing it.
  _bg_pg_prev_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
  # shellcheck disable=SC2064
  trap "_bg_pg_stop${_bg_pg_prev_trap:+; $_bg_pg_prev_trap}" EXIT
else
  echo "postgres.sh: PostgreSQL did not start; tests that need it fail in CI (BATCHGEN_CI=1) and are skipped elsewhere" >&2
fi
unset -f _bg_pg_main
