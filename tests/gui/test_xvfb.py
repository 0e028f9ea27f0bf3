"""The tray under a real X server with a real XEmbed tray (Xvfb + trayer).

Runs in a subprocess (inside dbus-run-session, so no stray session bus is
left behind) so this offscreen test session is untouched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xvfb
@pytest.mark.skipif(any(shutil.which(tool) is None for tool in
                        ("Xvfb", "trayer", "dbus-run-session", "xsetroot")),
                    reason="needs xvfb, trayer, dbus and x11-xserver-utils")
def test_tray_icon_appears_in_a_real_tray(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--check"],
        capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["available"] is True  # QSystemTrayIcon.isSystemTrayAvailable()
    x, y, width, height = report["geometry"]
    assert x > 0 and width > 0 and height > 0  # docked in the panel
    assert report["tooltip"] == "Session Manager — no site in focus"
