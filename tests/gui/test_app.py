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
    """The second launch asks through the first one's API, as its owner."""
    assert app.run(["sessionmgr"], exec_=False) == 0  # asks the first one, then exits
    assert app.current() is running
    qtbot.waitUntil(lambda: running.controller._doorhanger is not None
                    and running.controller._doorhanger.isVisible())


def test_a_launch_from_another_process_opens_the_first_ones_doorhanger(
        home: Path, qtbot: Any) -> None:
    assert app.run(["sessionmgr"], exec_=False) == 0
    try:
        first = app.current()
        assert first is not None
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(SESSIONMGR_HOME=str(home), SESSIONMGR_SECRETS="file",
                   QT_QPA_PLATFORM="offscreen")
        second = subprocess.Popen([sys.executable, "-m", "sessionmgr"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            qtbot.waitUntil(lambda: first.controller._doorhanger is not None
                            and first.controller._doorhanger.isVisible(), timeout=20_000)
            _, err = second.communicate(timeout=20)
            assert second.returncode == 0, err
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
    finally:
        app.shutdown()


def test_asking_when_nobody_answers_gives_up_at_the_deadline(home: Path) -> None:
    assert not (home / "endpoint.json").exists()
    assert app.ask_running_app(timeout=0.2) is False


def test_a_headless_daemon_has_no_tray_to_open(home: Path) -> None:
    """``POST /v1/ui/open`` to ``sessionmgr serve``: a 409 that says why."""
    from sessionmgr.daemon import Daemon

    daemon = Daemon.open()
    daemon.start()
    try:
        assert app.ask_running_app(timeout=0.2) is False
        import requests

        token = json.loads((home / "endpoint.json").read_text())["token"]
        answer = requests.post(f"{daemon.url}/v1/ui/open", json={}, timeout=5,
                               headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "no_tray_app"
    finally:
        daemon.stop()


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


def test_ready_is_reported_once_every_site_is_in(home: Path, qtbot: Any, capsys: Any,
                                                 monkeypatch: Any) -> None:
    """The benchmarks' "ready": tray (or window) shown and what it shows of the sites
    (the signed-in ones, for its menu) loaded, not before."""
    from sessionmgr import paths
    from sessionmgr.service import SessionService
    from sessionmgr.store.repository import Store

    store = Store(paths.database_path())
    try:
        service = SessionService(store)
        for i in range(30):
            service.declare(f"s{i:02d}.example", {"sessions": [{"email": f"u{i}@x"}]})
    finally:
        store.close()
    monkeypatch.setenv("SESSIONMGR_REPORT_READY", "1")
    assert app.run(["sessionmgr"], exec_=False) == 0
    try:
        current = app.current()
        assert current is not None
        out = [capsys.readouterr().out]
        assert "sessionmgr: ready" not in out[0]
        rows_when_ready: list[int] = []
        current.controller.loaded.connect(
            lambda: rows_when_ready.append(current.controller.summary.signed_in_count))
        qtbot.waitUntil(lambda: out.append(capsys.readouterr().out) or
                        "sessionmgr: ready http://127.0.0.1:" in "".join(out))
        assert rows_when_ready == [30]
    finally:
        app.shutdown()


STARTED = """
import importlib, json, linecache, sys, threading
sys.path.insert(0, sys.argv[1])
import early_probe  # before PySide6, as the daemon's modules are
from sessionmgr import app
assert app.run(["sessionmgr"], exec_=False) == 0
kept = sorted(linecache.cache)
import plain_probe, qt_probe  # imported later, as a first request's modules are
import early_probe  # imported again: PySide6 asks about it now
threads = [threading.Thread(target=lambda k=k: [importlib.import_module(f"many_{k}_{i}")
                                                 for i in range(10)]) for k in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert all(f"many_{k}_{i}" in sys.modules for k in range(4) for i in range(10))
from PySide6 import QtWidgets
decided = sys.modules["shibokensupport.feature"].pyside_feature_dict
print(json.dumps({"types": sorted(vars(QtWidgets)), "kept": kept,
                  "kept_later": sorted(linecache.cache),
                  "decided": [decided.get("plain_probe"), decided.get("qt_probe")],
                  "decided_early": decided.get("early_probe")}))
app.shutdown()
"""


def started_app(tmp_path: Path) -> dict[str, Any]:
    """What a freshly started app (a process of its own) reports about itself."""
    home = tmp_path / "home"
    home.mkdir()
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "plain_probe.py").write_text("VALUE = 1\n")
    (probes / "qt_probe.py").write_text("import PySide6.QtCore  # uses PySide6\n")
    (probes / "early_probe.py").write_text("NAME = 'PySide6'  # but loaded before it\n")
    for k in range(4):
        for i in range(10):
            (probes / f"many_{k}_{i}.py").write_text(f"VALUE = {i}\n")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(SESSIONMGR_HOME=str(home), SESSIONMGR_SECRETS="file", QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", STARTED, str(probes)], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_start_up_makes_no_pyside_type_only_an_error_needs(tmp_path: Path) -> None:
    """PySide6 makes a type at its first use; QMessageBox's costs 0.25 MiB of RSS."""
    types = started_app(tmp_path)["types"]
    assert "QSystemTrayIcon" in types, "the check sees the types start-up made"
    assert "QMessageBox" not in types


def test_pyside6s_import_hook_keeps_no_module_sources(tmp_path: Path) -> None:
    """PySide6 reads each imported module's source to see whether it uses PySide6;
    it still decides as before, but the sources are not kept in linecache (2 MiB at
    start-up, and every module a first request imports later), whichever threads
    import at once."""
    started = started_app(tmp_path)
    assert started["kept"] == []
    assert started["kept_later"] == []
    assert started["decided"] == [-1, 0]  # PySide6's answers: does not / does use it


def test_modules_loaded_before_pyside6_are_not_read_again(tmp_path: Path) -> None:
    """A module that ran before PySide6 existed cannot have opted into its switches:
    when another module imports it later, PySide6's hook gets "ignore this module"
    without reading its source (which here names PySide6, so reading it would say
    "uses PySide6")."""
    assert started_app(tmp_path)["decided_early"] == -1
