#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the test suite.
#   scripts/pg-test-server.sh start   -> prints the SQLAlchemy URL on stdout
#   scripts/pg-test-server.sh stop
# Installs Debian's postgresql package when the server binaries are missing and we are root.
set -euo pipefail
DIR=${QUAYKEY_PG_DIR:-/tmp/quaykey-pg}
PORT=${QUAYKEY_PG_PORT:-54329}

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  BIN=$(pgbin)
  if [ -z "$BIN" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing postgresql (Debian package)" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      BIN=$(pgbin)
    else
      echo "postgresql is not installed and we are not root: PostgreSQL tests will skip" >&2
      exit 0
    fi
  fi
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >&2 || true
  fi
  rm -rf "$DIR"; mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  as_owner "$BIN/initdb" -D "$DIR/data" -U quaykey --auth=trust -E UTF8 >/dev/null
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=on" start >&2
  as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U quaykey quaykey_test >&2
  echo "postgresql+psycopg://quaykey@127.0.0.1:$PORT/quaykey_test"
  ;;
stop)
  BIN=$(pgbin)
  if [ -n "$BIN" ] && [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true
  fi
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2;;
esac
