#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a
# temporary directory, a free port on 127.0.0.1, the unix socket inside the
# directory, run by an unprivileged user (tee-pg, created when we are root:
# PostgreSQL refuses to run as root). Password authentication over TCP, so the
# tests can also try a wrong password.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # exports TEE_PG_URL and TEE_PG_DIR
#   scripts/pg-test-cluster.sh stop "$TEE_PG_DIR" # stops the server, removes the directory
#   scripts/pg-test-cluster.sh pause|resume DIR   # stop / start the same cluster (outage tests)
#
# Environment: TEE_PG_FSYNC=on keeps fsync (default off: the tests kill
# brokers, never the database server, so its durability is not under test).
set -euo pipefail

pg_bin_dir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return 0; fi
  return 1
}

PG_USER="${TEE_PG_OS_USER:-tee-pg}"

# Runs a command as the cluster's owner (ourselves unless we are root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bin dir port pw tries
  bin="$(pg_bin_dir)" || { echo "pg-test-cluster: PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 3; }
  if [ "$(id -u)" -eq 0 ] && ! id "$PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER"
  fi
  dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/tee-pg.XXXXXX")}"
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$dir"
  pw="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$pw" > "$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$dir/pwfile"
  as_owner "$bin/initdb" -D "$dir/data" -U tee --pwfile="$dir/pwfile" -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  for tries in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    port_in_use "$port" && continue
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
        "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=${TEE_PG_FSYNC:-off} -c full_page_writes=${TEE_PG_FSYNC:-off}" \
        start >/dev/null 2>&1; then
      printf '%s\n' "$port" > "$dir/port"
      printf 'export TEE_PG_URL=%q\n' "postgres://tee:${pw}@127.0.0.1:${port}/postgres"
      printf 'export TEE_PG_DIR=%q\n' "$dir"
      return 0
    fi
  done
  echo "pg-test-cluster: the server did not start; log:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
}

# The same cluster on the same port again after `pause` (tests of a database outage).
resume() {
  local dir="${1:?usage: pg-test-cluster.sh resume DIR}" bin port
  bin="$(pg_bin_dir)"
  port="$(cat "$dir/port")"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=${TEE_PG_FSYNC:-off} -c full_page_writes=${TEE_PG_FSYNC:-off}" \
    start >/dev/null
}

pause() {
  local dir="${1:?usage: pg-test-cluster.sh pause DIR}"
  as_owner "$(pg_bin_dir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

stop() {
  local dir="${1:?usage: pg-test-cluster.sh stop DIR}" bin
  [ -d "$dir/data" ] || { rm -rf "$dir"; return 0; }
  bin="$(pg_bin_dir)" || true
  if [ -n "${bin:-}" ] && [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  pause) shift; pause "$@" ;;
  resume) shift; resume "$@" ;;
  bin) pg_bin_dir ;;
  *) echo "usage: $0 start [DIR] | stop DIR | pause DIR | resume DIR | bin" >&2; exit 2 ;;
esac
