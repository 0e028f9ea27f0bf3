"""GUI figures from inside a real tray app (``app.run(exec_=False)``) on a prepared home.

Run as a child process: ``gui_probe.py SITES REPS STALL_SECONDS [--first-open-only]``
with SESSIONMGR_HOME set. Measures the first doorhanger open a second after
start-up (once per run of the app: with ``--first-open-only`` that is all), then,
interleaving each figure with its baseline:

- doorhanger open (set_state + popup + paint) with every site loaded (the sessions
  window open), vs a bare
  frameless popup with a label and two buttons;
- filtering the sessions window (its own ``SiteFilterProxy`` with its table
  shown, repaint included), vs ``QSortFilterProxyModel.setFilterFixedString``
  over a ``QStringListModel`` of the same site names;
- the longest GUI event-loop gap (5 ms QTimer heartbeat) while a separate
  process sends 1,000 state-changing declarations a second over HTTP, vs the
  same app idle for as long.

Prints ``probe: {json}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from PySide6.QtCore import QSortFilterProxyModel, QStringListModel, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QFrame,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from sessionmgr import app  # noqa: E402


def pump(qapp: QApplication, until: object = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        qapp.processEvents()
        if until is None or until():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise RuntimeError("GUI probe timed out")
        time.sleep(0.005)


def bare_popup() -> QFrame:
    frame = QFrame(None, Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
    layout = QVBoxLayout(frame)
    layout.addWidget(QLabel("example.com"))
    layout.addWidget(QPushButton("Log out"))
    layout.addWidget(QPushButton("Switch to bob@example.com"))
    return frame


def heartbeat(qapp: QApplication, seconds: float, load: list[str] | None) -> dict[str, float]:
    """Longest gap between 5 ms ticks over ``seconds`` (first 100 ms skipped)."""
    gaps: list[float] = []
    last = [time.perf_counter()]
    child: subprocess.Popen[str] | None = None
    if load is not None:
        child = subprocess.Popen(load, stdout=subprocess.PIPE, text=True)

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=5)
    timer.timeout.connect(beat)
    timer.start()
    start = time.perf_counter()
    try:
        if child is not None:
            pump(qapp, lambda: child.poll() is not None, timeout=seconds + 30)
        else:
            pump(qapp, lambda: time.perf_counter() - start >= seconds, timeout=seconds + 5)
    finally:
        timer.stop()
        if child is not None and child.poll() is None:
            child.kill()
    out: dict[str, float] = {}
    if child is not None:
        assert child.stdout is not None
        text = child.stdout.read()
        child.stdout.close()
        child.wait(5)
        line = next((x for x in text.splitlines() if x.startswith("loadgen: ")), "loadgen: {}")
        out.update(json.loads(line.removeprefix("loadgen: ")))
    steady = gaps[20:] or gaps
    out["max_gap_ms"] = max(steady) * 1000 if steady else float("nan")
    out["ticks"] = len(gaps)
    return out


def later_figures(qapp: QApplication, controller: Any, daemon: Any, sites: int, reps: int,
                  stall_seconds: float, result: dict[str, object]) -> None:
    """Everything after the first open, with every site's row loaded."""
    from sessionmgr.gui.doorhanger import Doorhanger  # after the app's own first open

    window = controller.show_sessions_window()  # loads every site's row
    pump(qapp, lambda: controller.sites.rowCount() >= sites)

    # Doorhanger: the real open path, and a bare popup, interleaved.
    door_ms, bare_ms, build_ms = [], [], []
    for _ in range(reps):
        t = time.perf_counter()
        controller.open_doorhanger()
        qapp.processEvents()
        door_ms.append((time.perf_counter() - t) * 1000)
        controller.doorhanger.hide()
        qapp.processEvents()
        t = time.perf_counter()
        fresh = Doorhanger()
        fresh.set_state(controller.focused_state())
        fresh.popup(None)
        qapp.processEvents()
        build_ms.append((time.perf_counter() - t) * 1000)
        fresh.close()
        fresh.deleteLater()
        t = time.perf_counter()
        frame = bare_popup()
        frame.show()
        qapp.processEvents()
        bare_ms.append((time.perf_counter() - t) * 1000)
        frame.close()
        frame.deleteLater()
        qapp.processEvents()
    result["doorhanger_open_ms"] = door_ms
    result["doorhanger_build_ms"] = build_ms
    result["bare_popup_ms"] = bare_ms

    # Filtering the sessions window, and a stock proxy over the same names.
    names = [controller.sites.state_at(r)["site"] for r in range(controller.sites.rowCount())]
    stock_source = QStringListModel(names)
    stock = QSortFilterProxyModel()
    stock.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    stock.setSourceModel(stock_source)
    needles = ["site0999", "user3", "SITE0", "no such thing", ""]
    filter_ms, stock_ms = [], []
    for _ in range(max(1, reps // 4)):
        for needle in needles:
            t = time.perf_counter()
            window.search.setText(needle)
            window.proxy.set_needle(needle)  # in case the box filters on a timer
            window.proxy.rowCount()
            qapp.processEvents()
            filter_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            stock.setFilterFixedString(needle)
            stock.rowCount()
            qapp.processEvents()
            stock_ms.append((time.perf_counter() - t) * 1000)
    result["filter_ms"] = filter_ms
    result["stock_filter_ms"] = stock_ms

    # GUI-thread stalls at 1,000 declarations/s, and the same app idle.
    if stall_seconds > 0:
        token = daemon.owner_token.token
        load = [sys.executable, str(HERE / "loadgen.py"), str(daemon.server.port), token,
                "1000", str(stall_seconds), str(max(1, sites))]
        result["stall_idle"] = heartbeat(qapp, stall_seconds, None)
        result["stall_load"] = heartbeat(qapp, stall_seconds, load)
    window.close()


def main(argv: list[str]) -> int:
    sites, reps, stall_seconds = int(argv[1]), int(argv[2]), float(argv[3])
    qapp = QApplication(argv[:1])
    assert app.run(argv[:1], exec_=False) == 0
    tray_app = app.current()
    assert tray_app is not None
    controller, daemon = tray_app.controller, tray_app.daemon
    result: dict[str, object] = {"sites": sites}
    try:
        pump(qapp, lambda: controller.summary.signed_in_count >= sites)  # the tray's summary
        focus = "site00000.example" if sites else None
        daemon.service.focus(focus)
        pump(qapp, lambda: controller.focused == focus)
        # A first click a second after start-up builds the doorhanger (and loads the
        # widget style and fonts, which nothing had shown yet): once per run of the app.
        settle = time.perf_counter() + 1.0
        pump(qapp, lambda: time.perf_counter() >= settle)
        t = time.perf_counter()
        controller.open_doorhanger()
        qapp.processEvents()
        result["doorhanger_first_open_ms"] = (time.perf_counter() - t) * 1000
        controller.doorhanger.hide()
        qapp.processEvents()
        if "--first-open-only" not in argv:  # else one more run for that once-per-run figure
            later_figures(qapp, controller, daemon, sites, reps, stall_seconds, result)
    finally:
        app.shutdown()
    print("probe: " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
