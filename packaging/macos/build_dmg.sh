#!/bin/sh
# macOS: wrap "dist/Session Manager.app" (built by packaging/sessionmgr.spec on a Mac)
# into dist/sessionmgr-<version>.dmg with an /Applications link for drag-install.
#   packaging/macos/build_dmg.sh
set -eu
cd "$(dirname "$0")/../.."
app="dist/Session Manager.app"
[ -d "$app" ] || { echo "no $app: run pyinstaller packaging/sessionmgr.spec on macOS" >&2; exit 1; }
# A menu-bar app: LSUIElement must be set, or it shows a Dock icon.
[ "$(plutil -extract LSUIElement raw "$app/Contents/Info.plist")" = "true" ]
# Finder starts the tray app (Qt); the command line without Qt is beside it.
[ "$(plutil -extract CFBundleExecutable raw "$app/Contents/Info.plist")" = "sessionmgr" ]
[ -x "$app/Contents/MacOS/sessionmgr-cli" ] && [ -x "$app/Contents/MacOS/sessionmgr-helper" ]
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' sessionmgr/__init__.py)
stage=build/dmg
rm -rf "$stage" && mkdir -p "$stage"
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "Session Manager" -srcfolder "$stage" -ov -format UDZO \
  "dist/sessionmgr-$version.dmg"
echo "dist/sessionmgr-$version.dmg"
