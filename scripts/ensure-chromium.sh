#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium for the dashboard's browser tests
# (Playwright drives it; Playwright's own browser download is not used).
#   scripts/ensure-chromium.sh     -> exit 0 when chromium is there (installed now if needed)
# Installs the Debian package when it is missing and we are root; otherwise says why the
# browser tests will skip and exits 0, so `make test` goes on.
set -euo pipefail
BIN=${QUAYKEY_CHROMIUM:-/usr/bin/chromium}

if [ -x "$BIN" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium (Debian package)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
if [ -x "$BIN" ]; then
  exit 0
fi
echo "chromium is not at $BIN and could not be installed (needs root and apt-get): the dashboard browser tests will skip" >&2
exit 0
