"""The composition root: single instance, daemon life cycle, signals, no-tray fallback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessionmgr import app


@pytest.fixture
def running(home: Path, qtbot: Any) -> Any:
    assert app.run(["sessionmgr"], exec_=False) == 0
    current = app.current()
    assert current is not None
    yield current
    app.shutdown()


def test_run_starts_the_daemon_and_shutdown_stops_it(running: Any, home: Path) -> None:
    endpoint = json.loads((home / "endpoint.json").read_text())
    assert endpoint["url"].startswith("http://127.0.0.1:")
    assert running.controller.bridge.service is not None
    app.shutdown()
    assert not (home / "endpoint.json").exists()
    assert app.current() is None


def test_without_a_tray_the_sessions_window_says_so(running: Any, qtbot: Any) -> None:
    controller = running.controller
    assert controller.tray is None  # offscreen has no system tray
    window = controller._window
    assert window is not None and window.isVisible()
    assert "no system tray" in window.notice.text()


def test_second_launch_opens_the_first_ones_doorhanger(running: Any, qtbot: Any) -> None:
    door = running.controller.doorhanger
    assert not door.isVisible()
    assert app.run(["sessionmgr"], exec_=False) == 0  # asks the first one, then exits
    assert app.current() is running
    qtbot.waitUntil(door.isVisible)


def test_sigterm_quits_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(SESSIONMGR_HOME=str(home), SESSIONMGR_SECRETS="file", QT_QPA_PLATFORM="offscreen")
    process = subprocess.Popen([sys.executable, "-m", "sessionmgr"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (home / "endpoint.json").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
        assert not (home / "endpoint.json").exists()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_a_headless_daemon_on_the_same_home_is_reported(running: Any, capsys: Any) -> None:
    """The daemon lock is separate from the GUI lock: a second app on the same home,
    once past the GUI lock, is stopped by the daemon's and says why."""
    running.instance.release()  # pretend the first one is a headless `sessionmgr serve`
    assert app.run(["sessionmgr"], exec_=False) == 1
    assert "sessionmgr:" in capsys.readouterr().err
    assert app.current() is running
