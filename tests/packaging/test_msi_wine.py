"""The Windows installer's mechanics, under wine: install, check, uninstall, nothing left.

Builds the MSI with wixl from the *stand-in* Windows layout (package data at
the places PyInstaller puts it; the .exe files are marked stand-ins, because
Windows executables are only built on Windows: the release workflow's Windows
jobs freeze, smoke-test and install the real ones). In a throw-away
WINEPREFIX it then runs ``msiexec /i /qn`` and ``msiexec /x /qn`` and checks
that the files, the Start-menu shortcut, the per-user native-messaging
registry keys (Chrome, Edge, Chromium, Firefox) and, when asked for, the Run
value appear, point at the right places, and disappear again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from sessionmgr.helper import install  # noqa: E402

WINE = shutil.which("wine64") or ("/usr/lib/wine/wine64" if Path("/usr/lib/wine/wine64").exists()
                                  else shutil.which("wine"))
HOST_KEYS = {
    r"HKCU\Software\Google\Chrome\NativeMessagingHosts\org.sessionmgr.helper": "chrome",
    r"HKCU\Software\Microsoft\Edge\NativeMessagingHosts\org.sessionmgr.helper": "chrome",
    r"HKCU\Software\Chromium\NativeMessagingHosts\org.sessionmgr.helper": "chromium",
    r"HKCU\Software\Mozilla\NativeMessagingHosts\org.sessionmgr.helper": "firefox",
}
RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="wine and wixl: Linux"),
]


class Wine:
    def __init__(self, prefix: Path):
        if WINE is None or shutil.which("wixl") is None:
            pytest.fail("needs wine64 (Debian package wine64) and wixl (Debian package wixl)")
        self.prefix = prefix
        self.env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all",
                    # No Mono/Gecko install prompts in a fresh prefix.
                    "WINEDLLOVERRIDES": "mscoree,mshtml=", "DISPLAY": ""}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert WINE is not None
        result = subprocess.run([WINE, *argv], capture_output=True, text=True, env=self.env,
                                timeout=300)
        if check:
            assert result.returncode == 0, f"{argv}: {result.returncode} {result.stderr[-2000:]}"
        return result

    def reg_default(self, key: str, name: str | None = None) -> str | None:
        args = ["reg", "query", key] + (["/v", name] if name else ["/ve"])
        result = self.run(*args, check=False)
        if result.returncode != 0:
            return None
        for line in result.stdout.splitlines():
            if "REG_SZ" in line:
                return line.split("REG_SZ", 1)[1].strip()
        return None

    def unix(self, windows_path: str) -> Path:
        p = PureWindowsPath(windows_path)
        assert p.drive.upper() == "C:", windows_path
        return self.prefix / "drive_c" / Path(*p.parts[1:])

    @property
    def user_dir(self) -> Path:
        (user,) = [p for p in (self.prefix / "drive_c" / "users").iterdir()
                   if p.name != "Public"]
        return user


@pytest.fixture(scope="module")
def msi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("msi")
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "windows" / "build_msi.py"),
         "--stage-stand-in", str(tmp / "layout"), "--out", str(tmp)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1]), tmp / "layout"


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    w = Wine(tmp_path_factory.mktemp("wineprefix"))
    w.run("wineboot", "--init")
    try:
        yield w
    finally:
        wineserver = shutil.which("wineserver") or "/usr/lib/wine/wineserver64"
        subprocess.run([wineserver, "-k"], env=w.env, capture_output=True, timeout=60)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def test_install_and_uninstall(msi: tuple[Path, Path], wine: Wine) -> None:
    package, layout = msi
    target = wine.user_dir / "AppData/Local/Programs/sessionmgr"
    shortcut = (wine.user_dir / "AppData/Roaming/Microsoft/Windows/Start Menu/Programs"
                / "Session Manager.lnk")
    wine.run("msiexec", "/i", f"Z:{package}", "/qn")

    # Every file of the layout, byte for byte, plus the two host manifests.
    installed = _files(target)
    manifests = {"org.sessionmgr.helper.chromium.json", "org.sessionmgr.helper.firefox.json"}
    assert manifests <= installed.keys()
    assert {k: v for k, v in installed.items() if k not in manifests} == _files(layout)
    assert shortcut.is_file()
    for key, browser in HOST_KEYS.items():
        value = wine.reg_default(key)
        assert value is not None, f"missing {key}"
        manifest_path = wine.unix(value)
        assert manifest_path.parent == target
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = install.host_manifest(browser, PureWindowsPath("sessionmgr-helper.exe"))
        assert manifest == expected
        # "path" is relative to the manifest (allowed on Windows): the helper is there.
        assert (manifest_path.parent / manifest["path"]).is_file()
    assert wine.reg_default(RUN_KEY, "SessionManager") is None  # no autostart by default

    wine.run("msiexec", "/x", f"Z:{package}", "/qn")
    assert not target.exists()
    assert not shortcut.exists()
    for key in HOST_KEYS:
        assert wine.reg_default(key) is None, f"left behind: {key}"
    assert wine.reg_default(r"HKCU\Software\sessionmgr", "InstallDir") is None


def test_autostart_only_when_asked_and_removed_with_the_app(msi: tuple[Path, Path],
                                                            wine: Wine) -> None:
    package, _layout = msi
    wine.run("msiexec", "/i", f"Z:{package}", "/qn", "ADDLOCAL=Main,Autostart")
    value = wine.reg_default(RUN_KEY, "SessionManager")
    assert value is not None and value.endswith('sessionmgr\\sessionmgr.exe"'), value
    assert wine.unix(value.strip('"')).is_file()
    wine.run("msiexec", "/x", f"Z:{package}", "/qn")
    assert wine.reg_default(RUN_KEY, "SessionManager") is None
    assert not (wine.user_dir / "AppData/Local/Programs/sessionmgr").exists()
