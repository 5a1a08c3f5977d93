#!/usr/bin/env bash
# The operations tools the tests and the demo run, from Debian's packages, into .tools/bin:
# prometheus and promtool (package prometheus), alertmanager and amtool (package
# prometheus-alertmanager). The packages are downloaded and unpacked, not installed: no
# service is started. A binary already on PATH is linked instead of fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.tools/bin
mkdir -p "$BIN"

# binary in .tools/bin : the name on PATH and in the package : the Debian package
WANTED=(
  "prometheus:prometheus:prometheus"
  "promtool:promtool:prometheus"
  "alertmanager:prometheus-alertmanager:prometheus-alertmanager"
  "amtool:amtool:prometheus-alertmanager"
)

missing_packages=()
for entry in "${WANTED[@]}"; do
  IFS=: read -r name upstream package <<<"$entry"
  [ -x "$BIN/$name" ] && continue
  if found=$(command -v "$upstream"); then
    ln -sf "$found" "$BIN/$name"
  elif [[ " ${missing_packages[*]} " != *" $package "* ]]; then
    missing_packages+=("$package")
  fi
done
# Debian's alertmanager reads its built-in templates (and UI) from this folder, which
# the package installs: without it the binary refuses every configuration.
AM_SHARE=/usr/share/prometheus/alertmanager
if [ ! -f "$AM_SHARE/default.tmpl" ] && [[ " ${missing_packages[*]} " != *" prometheus-alertmanager "* ]]; then
  missing_packages+=("prometheus-alertmanager")
fi
[ ${#missing_packages[@]} -eq 0 ] && exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "tools: fetching ${missing_packages[*]} from Debian's packages (unpacked into $BIN)"
( cd "$tmp" && { apt-get download "${missing_packages[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get download "${missing_packages[@]}"; }; } ) \
  || { echo "tools: cannot download ${missing_packages[*]} (apt-get download failed)" >&2; exit 1; }
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
for entry in "${WANTED[@]}"; do
  IFS=: read -r name upstream _ <<<"$entry"
  [ -x "$BIN/$name" ] || [ ! -f "$tmp/root/usr/bin/$upstream" ] || cp "$tmp/root/usr/bin/$upstream" "$BIN/$name"
  [ -x "$BIN/$name" ] && echo "tools: $name $("$BIN/$name" --version 2>&1 | head -1)"
done
if [ ! -f "$AM_SHARE/default.tmpl" ] && [ -d "$tmp/root$AM_SHARE" ]; then
  if mkdir -p "$AM_SHARE" 2>/dev/null && cp -r "$tmp/root$AM_SHARE/." "$AM_SHARE/"; then
    echo "tools: alertmanager's templates in $AM_SHARE (where Debian's binary reads them)"
  else
    echo "tools: cannot write $AM_SHARE (Debian's alertmanager needs it): run make tools as root" >&2
  fi
fi
