"""The composition root of the tray app: one QApplication, one daemon, one GUI.

``run(argv)`` is the whole program (``sessionmgr`` with no arguments); with
``exec_=False`` it builds everything and returns without entering the event
loop, so tests can drive the real wiring and then call :func:`shutdown`.
"""

from __future__ import annotations

# The Qt-free daemon, and the standard library it needs, before PySide6: once loaded,
# PySide6's __feature__ import hook reads the source of every module imported after
# it (~15 ms at start-up; see _keep_no_sources for what it used to keep).
import sessionmgr.daemon  # noqa: F401

# isort: split
import contextlib
import gc
import json
import linecache
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from sessionmgr import paths
from sessionmgr.errors import AlreadyRunning, SessionmgrError
from sessionmgr.instance import InstanceLock

log = logging.getLogger("sessionmgr.app")

APP_ID = "org.sessionmgr.SessionManager"


class SingleInstance:
    """One tray app per user (per ``SESSIONMGR_HOME``): an OS file lock says who runs,
    released by the kernel however the holder ends (the daemon's kind of lock, on a
    file of its own). A second launch asks the first to open its doorhanger through
    the first one's own loopback API (:func:`ask_running_app`): no second channel to
    secure."""

    def __init__(self, directory: Path):
        self._endpoint = directory / "endpoint.json"  # named in the lock's refusal
        self._lock = InstanceLock(directory / "gui.lock")

    def acquire(self) -> bool:
        """Become the instance, or return False when another one holds the lock."""
        try:
            self._lock.acquire(self._endpoint)
        except AlreadyRunning:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


def ask_running_app(timeout: float = 5.0) -> bool:
    """Second launch: ``POST /v1/ui/open`` to the running app's daemon, as its owner
    (the token in endpoint.json, which only this user can read). The first app may
    still be starting, with no endpoint.json yet: retried until ``timeout``."""
    from sessionmgr.helper.daemon_client import DaemonClient, DaemonError, DaemonUnavailable

    endpoint = paths.endpoint_path()
    deadline = time.monotonic() + timeout
    while True:
        client = DaemonClient(endpoint)
        try:
            token = str(json.loads(endpoint.read_text(encoding="utf-8"))["token"])
            client.request("POST", "/v1/ui/open", token=token, body={})
            return True
        except DaemonError as exc:  # it answered, and said no
            if exc.code != "no_tray_app" or time.monotonic() >= deadline:  # (GUI not built yet)
                log.warning("the running sessionmgr did not open: %s", exc.message)
                return False
        except (DaemonUnavailable, OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return False
        finally:
            client.close()
        time.sleep(0.05)  # not up yet: retry until the deadline


class _UiRequests(QObject):
    """``POST /v1/ui/open`` arrives on an API thread; a signal takes it to the GUI's."""

    open_requested = Signal()


class _SignalWaker(QObject):
    """Lets Python see SIGINT/SIGTERM while Qt's C++ loop runs: the C handler
    writes to a socket, a QSocketNotifier wakes the loop, the Python handler
    (which quits the app) then runs. No polling timer."""

    def __init__(self, app: QApplication):
        super().__init__(app)
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._write.fileno())
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self._old = {sig: signal.signal(sig, self._handle)
                     for sig in (signal.SIGINT, signal.SIGTERM)}
        self.app = app

    def _handle(self, signum: int, frame: Any) -> None:
        log.info("signal %d: quitting", signum)
        # Queued, so a signal during start-up (before exec) still ends the loop.
        QTimer.singleShot(0, self.app.quit)

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            self._read.recv(256)

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._old_fd)
        self._notifier.setEnabled(False)
        self._read.close()
        self._write.close()


class TrayApp:
    """Everything one running tray app owns, and the order to stop it in."""

    def __init__(self, qapp: QApplication, instance: SingleInstance, daemon: Any,
                 controller: Any, waker: _SignalWaker | None):
        self.qapp = qapp
        self.instance = instance
        self.daemon = daemon
        self.controller = controller
        self.waker = waker
        self._stopped = False

    def shutdown(self) -> None:
        """Idempotent: GUI first (it stops calling the service), then the daemon."""
        if self._stopped:
            return
        self._stopped = True
        self.daemon.ui_opener = None
        self.controller.close()
        try:
            self.daemon.stop()
        finally:
            if self.waker is not None:
                self.waker.restore()
            self.instance.release()
            gc.unfreeze()  # what start-up froze may be collected again


_current: TrayApp | None = None


def current() -> TrayApp | None:
    """The app built by the last ``run(..., exec_=False)`` (for tests)."""
    return _current


def shutdown() -> None:
    global _current
    if _current is not None:
        _current.shutdown()
        _current = None


def _application(argv: list[str]) -> QApplication:
    existing = QApplication.instance()
    qapp = existing if isinstance(existing, QApplication) else QApplication(argv)
    qapp.setApplicationName("sessionmgr")
    qapp.setApplicationDisplayName("Session Manager")
    qapp.setOrganizationDomain("sessionmgr.org")
    QGuiApplication.setDesktopFileName(APP_ID)
    qapp.setQuitOnLastWindowClosed(False)
    # No application-wide window icon: each window sets its own (the tray has none),
    # and loading Qt's SVG icon plugin at start-up for no window costs 0.2 MiB of RSS.
    return qapp


def _keep_no_sources() -> bool:
    """PySide6 replaces ``__import__``: after each import it asks whether the module
    uses PySide6 (for its opt-in ``__feature__`` switches) by reading the module's
    whole source with ``inspect.getsource``, which keeps it in ``linecache`` for
    good: at start-up typing, datetime, logging, enum and 26 more (2 MiB of lines,
    a peak that idle RSS never comes down from), later every module a first request
    imports. What the question puts into linecache is dropped (only tracebacks use
    it, and they read it again). And it asks again for modules loaded before PySide6
    whenever another module imports them: typing, logging, datetime and a dozen more,
    ~2 ms of start-up spent reading their source. Those ran before PySide6 and its
    ``__feature__`` switches existed, so cannot have opted into them; they get
    "ignore this module" (PySide6's answer for a module that does not mention it)
    unread. Returns whether PySide6 has that hook (private to it: absent, nothing to do)."""
    feature = sys.modules.get("shibokensupport.feature")
    asks = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or asks is None or not callable(asks):
        return False
    if getattr(asks, "keeps_no_source", False):
        return True

    names = list(sys.modules)  # in the order they began to load
    loaded_before = frozenset(names[: names.index("PySide6")] if "PySide6" in names else ())

    def uses_pyside(module: Any) -> bool:
        if getattr(module, "__name__", None) in loaded_before:
            return False
        cache = linecache.cache
        known = set(cache)  # copies (set, list) are atomic; iterating the dict is not
        try:
            return bool(asks(module))
        finally:
            for name in set(cache) - known:  # any thread may import meanwhile
                cache.pop(name, None)

    uses_pyside.keeps_no_source = True  # type: ignore[attr-defined]
    vars(feature)["_mod_uses_pyside"] = uses_pyside
    return True


def _no_display() -> bool:
    """On X11/Wayland desktops Qt aborts without a display; say so instead."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(argv: list[str], *, exec_: bool = True, require_keyring: bool = False) -> int:
    """Run the tray app; returns the process exit status."""
    global _current
    if _no_display():
        print(
            "sessionmgr: no graphical display (DISPLAY and WAYLAND_DISPLAY are unset), so"
            " there is no tray to show. Run the daemon alone with `sessionmgr serve`.",
            file=sys.stderr,
        )
        return 1
    hooked = _keep_no_sources()
    linecache.clearcache()  # what the hook read before (PySide6's own imports, ours)
    from sessionmgr.daemon import Daemon, kept_for_good  # the Qt-free core
    from sessionmgr.gui.bridge import DaemonBackend
    from sessionmgr.gui.controller import Controller

    qapp = _application(argv)
    instance = SingleInstance(paths.runtime_dir())
    if not instance.acquire():
        if ask_running_app():
            log.info("already running: asked it to open its doorhanger")
            return 0
        print("sessionmgr: another instance holds the lock but does not answer", file=sys.stderr)
        return 1

    waker = _SignalWaker(qapp) if exec_ else None
    try:
        with kept_for_good():
            daemon = Daemon.open(require_keyring=require_keyring)
        daemon.start()
    except SessionmgrError as exc:
        gc.unfreeze()
        if waker is not None:
            waker.restore()
        instance.release()
        print(f"sessionmgr: {exc.message}", file=sys.stderr)
        if exec_:  # started from a menu, nobody reads stderr
            # Only here: making PySide6's QMessageBox type costs 0.25 MiB of idle RSS.
            from PySide6.QtWidgets import QMessageBox

            from sessionmgr.gui import icons

            qapp.setWindowIcon(icons.app_icon())
            QMessageBox.critical(None, "Session Manager", exc.message)
        return 1

    controller = Controller(DaemonBackend(daemon), daemon.settings)
    tray_app = TrayApp(qapp, instance, daemon, controller, waker)
    ui_requests = _UiRequests(controller)
    ui_requests.open_requested.connect(controller.open_doorhanger)
    daemon.ui_opener = ui_requests.open_requested.emit
    controller.quit_requested.connect(qapp.quit)
    if os.environ.get("SESSIONMGR_REPORT_READY"):
        # Benchmarks: the tray is shown, the first snapshot of every site is in (tray and
        # menu are current) and the event loop turns.
        controller.loaded.connect(lambda: print(f"sessionmgr: ready {daemon.url}", flush=True))
    controller.start()
    if not hooked:  # what PySide6's import hook read meanwhile (only tracebacks use it)
        linecache.clearcache()
    if not exec_:
        _current = tray_app
        return 0
    try:
        return qapp.exec()
    finally:
        tray_app.shutdown()
