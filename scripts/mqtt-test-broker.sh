#!/usr/bin/env bash
# A throwaway mosquitto MQTT broker on 127.0.0.1 for the test suite.
#   scripts/mqtt-test-broker.sh start   -> prints the mqtt://host:port URL on stdout
#   scripts/mqtt-test-broker.sh stop
# Installs Debian's mosquitto package when the broker is missing and we are root.
set -euo pipefail
DIR=${QUAYKEY_MQTT_DIR:-/tmp/quaykey-mqtt}
BIN=/usr/sbin/mosquitto

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  if [ -f "$DIR/pid" ]; then
    kill "$(cat "$DIR/pid")" 2>/dev/null || true
    rm -f "$DIR/pid"
  fi
}

case "${1:-}" in
start)
  if [ ! -x "$BIN" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing mosquitto (Debian package)" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >&2
    else
      echo "mosquitto is not installed and we are not root: mosquitto tests will skip" >&2
      exit 0
    fi
  fi
  stop
  mkdir -p "$DIR"
  PORT=${QUAYKEY_MQTT_PORT:-$(free_port)}
  cat > "$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest file $DIR/log
CONF
  [ "$(id -u)" = 0 ] && echo "user root" >> "$DIR/mosquitto.conf"
  "$BIN" -c "$DIR/mosquitto.conf" >/dev/null 2>&1 &
  echo $! > "$DIR/pid"
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      echo "mqtt://127.0.0.1:$PORT"
      exit 0
    fi
    sleep 0.1
  done
  echo "mosquitto did not start (see $DIR/log)" >&2
  stop
  exit 1
  ;;
stop)
  stop
  ;;
*)
  echo "usage: $0 start|stop" >&2; exit 2;;
esac
