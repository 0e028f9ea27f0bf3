"""The tray under a real X server with a real XEmbed tray (Xvfb + trayer).

Runs in a subprocess (inside dbus-run-session, so no stray session bus is
left behind) so this offscreen test session is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# The test command installs Xvfb, trayer, D-Bus and xsetroot (scripts/bootstrap.sh
# --test): on Linux a missing one is a broken setup and fails, never a skip.
LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 and D-Bus")


@pytest.mark.xvfb
@LINUX_ONLY
def test_tray_icon_appears_in_a_real_tray(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--check"],
        capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["available"] is True  # QSystemTrayIcon.isSystemTrayAvailable()
    x, _, width, height = report["geometry"]
    assert x > 0 and width > 0 and height > 0  # docked in the panel
    assert report["tooltip"] == "Session Manager — no site in focus"


@pytest.mark.xvfb
@LINUX_ONLY
def test_shells_see_the_tray_over_dbus(tmp_path: Path) -> None:
    """StatusNotifierItem: the tooltip, icon and menu a desktop shell reads."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshots import x_display

    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    with x_display() as display:
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", SESSIONMGR_HOME=str(tmp_path),
                   SESSIONMGR_SECRETS="file")
        result = subprocess.run(
            ["dbus-run-session", "--", sys.executable, str(Path(__file__).with_name(
                "sni_probe.py"))], env=env, capture_output=True, text=True, timeout=90,
            check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["available"] and report["registered"] and report["status"] == "Active"
    assert report["tooltip"][0] == "example.com — signed in as bear@example.com"
    assert [16, 16] in report["icon_sizes"] and [22, 22] in report["icon_sizes"]
    assert report["menu"] == [
        "Signed in",
        ["example.com — bear@example.com",
         ["bear@example.com", "bob@example.com", "Log out", "Stay signed in"]],
        "Log out of all sites…", "Sessions window", "Paired browsers…", "Settings…",
        "Pause notifications", "Quit"]
