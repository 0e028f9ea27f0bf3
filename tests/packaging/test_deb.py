"""The .deb: build it, install it on this machine, run it, purge it, nothing left.

Builds the PyInstaller folder (and smoke-tests it: ``sessionmgr-cli`` serves
without Qt and hands over to the tray without a command) and the .deb (gzip, the
fast compression: the release build uses xz, same contents), ``dpkg -i``s it,
runs the installed ``/usr/bin/sessionmgr --version`` and
packaging/smoke_test.py against ``/usr/bin`` inside a private gnome-keyring (so
the bundled keyring backends are proven, and the /usr/bin/sessionmgr script
sends ``serve`` to the Qt-free executable and the tray to the Qt one), checks
the native-messaging manifests, desktop entry, icons and metainfo, runs
lintian, then ``dpkg --purge``s and checks that every file the package
installed, and every directory it created, is gone.

Needs root and dpkg (it installs a system package); skipped elsewhere, and
skipped when a sessionmgr package is already installed (it would purge it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sessionmgr.helper import install  # noqa: E402

APP_ID = "org.sessionmgr.SessionManager"
MANIFESTS = {
    "chromium": Path("/etc/chromium/native-messaging-hosts/org.sessionmgr.helper.json"),
    "chrome": Path("/etc/opt/chrome/native-messaging-hosts/org.sessionmgr.helper.json"),
    "firefox": Path("/usr/lib/mozilla/native-messaging-hosts/org.sessionmgr.helper.json"),
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.keyring,
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dpkg-deb") is None,
                       reason="needs Debian's dpkg"),
    pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() != 0,
                       reason="installs a system package: needs root"),
]


def _run(argv: list[str], timeout: float = 600,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert result.returncode == 0, f"{argv}: {result.stdout[-4000:]}{result.stderr[-4000:]}"
    return result


def _installed() -> bool:
    return subprocess.run(["dpkg", "-s", "sessionmgr"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _installed():
        pytest.skip("a sessionmgr package is installed here; this test would purge it")
    tmp = tmp_path_factory.mktemp("frozen")
    _run([sys.executable, "-m", "PyInstaller", str(ROOT / "packaging" / "sessionmgr.spec"),
          "--noconfirm", "--distpath", str(tmp / "dist"), "--workpath", str(tmp / "work")])
    return tmp / "dist" / "sessionmgr"


@pytest.fixture(scope="module")
def deb(frozen: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("deb")
    out = _run([sys.executable, str(ROOT / "packaging" / "debian" / "build_deb.py"),
                "--dist", str(frozen), "--out", str(tmp), "--compression", "gzip"])
    return Path(out.stdout.strip().splitlines()[-1])


def test_frozen_folder_runs(frozen: Path, tmp_path: Path) -> None:
    """The folder itself: sessionmgr-cli (no Qt) serves, and starts the tray without a command."""
    assert sorted(p.name for p in frozen.iterdir()) == [
        "_internal", "sessionmgr", "sessionmgr-cli", "sessionmgr-helper"]
    smoke = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "smoke_test.py"), "--dist", str(frozen)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "sessionmgr-cli serve answered" in smoke.stdout
    assert "sessionmgr-cli without a command started the tray" in smoke.stdout


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[list[Path]]:
    """dpkg -i; yields the paths dpkg lists for the package; purges at the end."""
    _run(["dpkg", "-i", str(deb)])
    try:
        listed = [Path(p) for p in _run(["dpkg", "-L", "sessionmgr"]).stdout.splitlines()
                  if p.startswith("/")]
        yield listed
    finally:
        if _installed():
            subprocess.run(["dpkg", "--purge", "sessionmgr"], capture_output=True, timeout=300)


def test_installed_app_runs(installed: list[Path], tmp_path: Path) -> None:
    version = _run(["/usr/bin/sessionmgr", "--version"], cwd=tmp_path)
    from sessionmgr import __version__
    assert version.stdout == f"sessionmgr {__version__}\n"
    assert version.stderr == ""
    smoke = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "smoke_test.py"), "--bin", "/usr/bin",
         "--secret-service"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


def test_usr_bin_sessionmgr_picks_the_executable(installed: list[Path]) -> None:
    """/usr/bin/sessionmgr is the POSIX sh script; the Qt-free executable is installed."""
    script = Path("/usr/bin/sessionmgr")
    assert not script.is_symlink() and script.read_text().startswith("#!/bin/sh\n")
    assert script.stat().st_mode & 0o777 == 0o755
    sys.path.insert(0, str(ROOT / "packaging" / "debian"))
    import build_deb

    assert script.read_text() == build_deb.dispatcher()
    for name in ("sessionmgr", "sessionmgr-cli", "sessionmgr-helper"):
        assert Path("/opt/sessionmgr", name) in installed
        assert Path("/opt/sessionmgr", name).stat().st_mode & 0o777 == 0o755


def test_manifests_desktop_entry_icons_metainfo(installed: list[Path]) -> None:
    for browser, path in MANIFESTS.items():
        assert json.loads(path.read_text()) == install.host_manifest(
            browser, Path("/usr/bin/sessionmgr-helper")), path
    assert Path("/usr/bin/sessionmgr-helper").resolve() == Path("/opt/sessionmgr/"
                                                                 "sessionmgr-helper")
    desktop = Path(f"/usr/share/applications/{APP_ID}.desktop")
    _run(["desktop-file-validate", str(desktop)])
    assert "Exec=sessionmgr\n" in desktop.read_text()
    _run(["appstreamcli", "validate", "--no-net", f"/usr/share/metainfo/{APP_ID}.metainfo.xml"])
    hicolor = Path("/usr/share/icons/hicolor")
    assert (hicolor / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in (16, 32, 48, 128, 256):
        assert (hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    # No autostart: only the user turns it on (the app writes ~/.config/autostart).
    assert not [p for p in installed if "autostart" in str(p)]
    assert not Path(f"/etc/xdg/autostart/{APP_ID}.desktop").exists()
    # The conffiles are the /etc manifests (kept by dpkg -r, removed by --purge).
    conffiles = _run(["dpkg-query", "-W", "-f=${Conffiles}", "sessionmgr"]).stdout
    assert str(MANIFESTS["chromium"]) in conffiles and str(MANIFESTS["chrome"]) in conffiles


def test_lintian_finds_no_errors_or_warnings(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.fail("lintian is not installed (Debian package lintian)")
    result = subprocess.run(["lintian", "--fail-on", "error,warning", str(deb)],
                            capture_output=True, text=True, timeout=600)
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert result.returncode == 0 and not tags, "\n".join(tags) or result.stderr


def test_remove_and_purge_leave_nothing(installed: list[Path]) -> None:
    files = [p for p in installed if not p.is_dir() or p.is_symlink()]
    dirs = [p for p in installed if p.is_dir() and not p.is_symlink()]
    created_dirs = [d for d in dirs if str(d).startswith(("/opt/sessionmgr",
                                                           "/usr/share/doc/sessionmgr"))]
    _run(["dpkg", "-r", "sessionmgr"])
    # dpkg -r keeps only the conffiles (the /etc manifests).
    left = [p for p in files if p.exists() or p.is_symlink()]
    assert sorted(left) == sorted(p for p in MANIFESTS.values() if str(p).startswith("/etc/"))
    _run(["dpkg", "--purge", "sessionmgr"])
    assert not _installed()
    left = [p for p in files if p.exists() or p.is_symlink()]
    assert not left, left
    assert not [d for d in created_dirs if d.exists()]
    assert not Path("/opt/sessionmgr").exists()
    assert not list(Path("/usr/bin").glob("sessionmgr*"))
    for path in MANIFESTS.values():
        assert not path.exists()
        # The manifest directories this package created are gone too.
        assert not path.parent.exists() or any(path.parent.iterdir())
