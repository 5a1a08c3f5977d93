#!/usr/bin/env bash
# Debian's Chromium, which the kiosk page's browser tests drive (tests/browser/) through
# Playwright: Playwright's own browser download cannot work on a machine that reaches
# only package registries. Installed with apt-get when missing and run as root; a
# browser elsewhere can be named with KIOSKPULSE_CHROMIUM=/path/to/chromium.
set -euo pipefail
CHROMIUM=${KIOSKPULSE_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "tools: no Chromium at $CHROMIUM; the browser tests need it:" \
       "sudo apt-get install --no-install-recommends chromium (or KIOSKPULSE_CHROMIUM=...)" >&2
  exit 0  # the browser tests then fail and say the same
fi
echo "tools: installing Debian's chromium (for the browser tests)"
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
install || { apt-get update -qq && install; } \
  || { echo "tools: apt-get could not install chromium" >&2; exit 1; }
echo "tools: $("$CHROMIUM" --version 2>/dev/null | head -1)"
