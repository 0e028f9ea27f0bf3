#!/bin/sh
# One command per artifact (see packaging/README.md):
#   packaging/build.sh wheel     dist/sessionmgr-<v>-py3-none-any.whl and .tar.gz
#   packaging/build.sh frozen    dist/sessionmgr/ (PyInstaller one-folder) + smoke test
#   packaging/build.sh deb       dist/sessionmgr_<v>-1_<arch>.deb (+ frozen) + lintian
#   packaging/build.sh msi-test  MSI from the stand-in layout (installer mechanics only)
set -eu
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
case "${1:-}" in
  wheel) "$py" -m build --outdir dist . ;;
  frozen)
    "$py" -m PyInstaller packaging/sessionmgr.spec --noconfirm --distpath dist \
      --workpath build/pyinstaller
    "$py" packaging/smoke_test.py ;;
  deb)
    "$0" frozen
    deb=$("$py" packaging/debian/build_deb.py)
    echo "$deb"
    lintian --fail-on error,warning "$deb" ;;
  msi-test) "$py" packaging/windows/build_msi.py --stage-stand-in build/msi/stand-in ;;
  *) sed -n '2,7p' "$0" >&2; exit 2 ;;
esac
