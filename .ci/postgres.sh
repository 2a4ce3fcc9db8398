#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 for the store/API tests (root, no systemd).
#   .ci/postgres.sh start   -> prints the SQLAlchemy URL on stdout (everything else on stderr)
#   .ci/postgres.sh stop
# Then: PARTNERMATCH_TEST_POSTGRES_URL=$(.ci/postgres.sh start) pytest tests/service
set -euo pipefail

PORT="${PARTNERMATCH_PG_PORT:-54329}"
PGROOT="${PARTNERMATCH_PG_ROOT:-/tmp/partnermatch-pg}"
DB=partnermatch_test
BIN=/usr/lib/postgresql/15/bin
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/${DB}"

as_postgres() { runuser -u postgres -- "$@"; }

start() {
  if [ ! -x "$BIN/pg_ctl" ]; then
    echo "installing postgresql (apt)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  if [ -f "$PGROOT/data/postmaster.pid" ] && as_postgres "$BIN/pg_ctl" -D "$PGROOT/data" status >/dev/null 2>&1; then
    echo "postgresql already running in $PGROOT" >&2
  else
    rm -rf "$PGROOT" && mkdir -p "$PGROOT" && chown postgres "$PGROOT"
    as_postgres "$BIN/initdb" -D "$PGROOT/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >&2
    as_postgres "$BIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/pg.log" -w \
      -o "-p $PORT -k $PGROOT -c listen_addresses=127.0.0.1" start >&2
  fi
  if ! psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE $DB" >&2
  fi
  echo "$URL"
}

stop() {
  if [ -d "$PGROOT/data" ]; then
    as_postgres "$BIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >&2 || true
    rm -rf "$PGROOT"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
