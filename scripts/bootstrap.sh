#!/usr/bin/env bash
# Sets up sessionmgr on Debian 12 (or newer): system libraries from apt, then
# a virtual environment in .venv with sessionmgr installed in it.
#   scripts/bootstrap.sh          what the app needs to run
#   scripts/bootstrap.sh --test   plus what the test suite needs (Xvfb, a tray,
#                                 D-Bus, gnome-keyring, Chromium and its driver)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

# Qt's xcb platform plugin and fonts (DESIGN.md section 6).
runtime_debs=(python3 python3-venv python3-pip libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1
  libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
test_debs=(xvfb xauth x11-xserver-utils dbus dbus-x11 gnome-keyring trayer chromium chromium-driver
  desktop-file-utils appstream lintian binutils wixl wine64)

debs=("${runtime_debs[@]}")
[ "$with_tests" = 1 ] && debs+=("${test_debs[@]}")

missing=()
for deb in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ "$with_tests" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
echo "sessionmgr is set up in .venv"
