"""The one place where the GUI thread meets the service.

Service methods may touch SQLite, the keyring or the network, so they run on a
single worker thread (one worker keeps the user's actions in order); results
and errors come back as queued Qt signals. Service change callbacks arrive on
whatever thread made the change; they are collected into a set and drained at
most every ``COALESCE_MS``, so a storm of declarations becomes a few batched
row updates instead of thousands of repaints.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from sessionmgr.errors import SessionmgrError
from sessionmgr.gui import models
from sessionmgr.gui.models import UNDELIVERED_CODES, RecordRow, Row, record_rows

log = logging.getLogger("sessionmgr.gui.bridge")

Callback = Callable[[Any], None]


class Summary(NamedTuple):
    """What the tray shows, without the GUI keeping every site."""

    focused: str | None         # the site of the browser's active tab
    focused_row: Any            # its row (None: no such site)
    signed_in: list[Any]        # the first ``menu_sites`` signed-in sites' rows, by name
    signed_in_count: int        # how many sites have someone signed in
    undelivered: int            # sites whose last event reached no browser


EMPTY_SUMMARY = Summary(None, None, [], 0, 0)


class Bridge(QObject):
    """Runs service calls off the GUI thread and turns service changes into signals.

    The GUI keeps every site's row, the newest events and the paired browsers only
    while ``table_live`` (the sessions window is open, after :meth:`load_tables`);
    otherwise each change brings a fresh :class:`Summary`, plus the changed sites'
    rows before and after for notifications, and events and deliveries cost the GUI
    nothing.
    """

    COALESCE_MS = 40
    EVENTS_SHOWN = 200  # the newest, in the sessions window's activity tab

    # Snapshots, always delivered on the GUI thread.
    sites_loaded = Signal(list)          # every site's row, after load_tables() or a big burst
    sites_changed = Signal(dict, dict)   # {site: row or None (removed)}, {site: row before}
    summary_changed = Signal(object)     # a Summary
    events_changed = Signal(list)        # newest events, with deliveries
    helpers_changed = Signal(list)
    pairings_changed = Signal(list)
    error = Signal(str, str)             # (what the user tried, message)

    _finished = Signal(object, object)   # (callback, result) from the worker
    _wake = Signal()                     # a change arrived on some thread

    def __init__(self, service: Any, parent: QObject | None = None, *,
                 prepare_site: Callable[[Any], Any] | None = None, menu_sites: int = 25):
        """``prepare_site`` turns each SiteState (or a change's record from before)
        into what the GUI keeps, on the worker."""
        super().__init__(parent)
        self.service = service
        self.menu_sites = menu_sites
        self.table_live = False  # set by the GUI thread, read by the worker
        self._prepare = prepare_site or (lambda state: state)
        self._executor: _Worker | None = _Worker("sessionmgr-gui-worker")
        self._lock = threading.Lock()
        self._dirty: dict[str, set[str]] = {}
        self._before: dict[str, Any] = {}  # each changed site's record before the batch
        self._woken = False
        self._timer = QTimer(self, singleShot=True, interval=self.COALESCE_MS)
        self._timer.timeout.connect(self._drain)
        self._finished.connect(self._deliver)
        self._wake.connect(self._on_wake)
        self._unsubscribe: Callable[[], None] | None = service.subscribe(self._on_change)

    # -- running work ---------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callback | None = None,
        what: str = "",
        **kwargs: Any,
    ) -> None:
        """Run ``fn(*args, **kwargs)`` on the worker; ``done(result)`` on the GUI thread.

        A ``SessionmgrError`` becomes ``error(what, message)``; anything else is
        a bug, logged with its traceback and reported without details.
        """
        if self._executor is None:
            return

        def job() -> None:
            try:
                result = fn(*args, **kwargs)
            except SessionmgrError as exc:
                self._finished.emit(self._fail, (what, exc.message))
            except Exception:
                log.exception("%s failed", what or getattr(fn, "__name__", "service call"))
                self._finished.emit(self._fail, (what, "An internal error occurred; see the log."))
            else:
                if done is not None:
                    self._finished.emit(done, result)

        self._executor.submit(job)

    def _fail(self, pair: tuple[str, str]) -> None:
        self.error.emit(*pair)

    @Slot(object, object)
    def _deliver(self, callback: Callback, result: Any) -> None:
        if self._executor is not None:  # after close(), answers have no one to go to
            callback(result)

    # -- user actions (fire and forget; the change feed shows the outcome) --

    def login(self, site: str, account: str | None, persistent: bool = False) -> None:
        what = f"Log in to {site}" if account is None else f"Switch {site} to {account}"
        self.call(self.service.login, site, account, persistent, what=what)

    def logout(self, site: str) -> None:
        self.call(self.service.logout, site, what=f"Log out of {site}")

    def logout_all(self) -> None:
        self.call(self.service.logout_all, what="Log out of all sites")

    def forget_site(self, site: str) -> None:
        self.call(self.service.forget_site, site, what=f"Forget {site}")

    def cancel_persistent(self, site: str) -> None:
        self.call(self.service.cancel_persistent, site, what=f"Stop staying signed in to {site}")

    def revoke_helper(self, helper_id: str) -> None:
        self.call(self.service.revoke_helper, helper_id, what="Revoke the paired browser")

    def approve_pairing(self, pairing_id: str) -> None:
        self.call(self.service.approve_pairing, pairing_id, what="Approve the pairing")

    def reject_pairing(self, pairing_id: str) -> None:
        self.call(self.service.reject_pairing, pairing_id, what="Reject the pairing")

    # -- snapshots --------------------------------------------------------

    def refresh_all(self, done: Callable[[], None] | None = None) -> None:
        """Load what the tray shows, and pairings waiting for the user, once (start-up);
        later updates arrive by change.

        ``done()`` runs on the GUI thread once every answer has been delivered
        (one worker, answers in order: a last no-op call marks the end).
        """
        self.call(self._summary, done=self.summary_changed.emit, what="Load sites")
        self.call(self.service.list_pairings, done=self.pairings_changed.emit, what="Load pairings")
        if done is not None:
            self.call(_nothing, done=lambda _: done())

    def load_tables(self) -> None:
        """Every site's row, the newest events and the paired browsers, for the sessions
        window (``table_live`` from now on: changes keep them current)."""
        self.table_live = True
        self.call(self._list_sites, done=self.sites_loaded.emit, what="Load sites")
        self.call(self.service.list_events, None, self.EVENTS_SHOWN, done=self.events_changed.emit,
                  what="Load events")
        self.call(self.service.list_helpers, done=self.helpers_changed.emit, what="Load browsers")

    def signed_in_accounts(self, done: Callable[[list[tuple[str, str]]], None]) -> None:
        """(site, who) for every signed-in site, as "log out of all" would touch them."""
        def accounts() -> list[tuple[str, str]]:
            rows = [models.prepare_site(state) for state in self.service.signed_in()]
            return models.signed_in_accounts(row for row in rows if row is not None)

        self.call(accounts, done=done, what="List the signed-in sites")

    # -- the change feed --------------------------------------------------

    def _on_change(self, change: Any) -> None:
        """Runs on the thread that made the change: record it, wake the GUI once."""
        with self._lock:
            self._dirty.setdefault(change.kind, set()).add(change.key)
            if change.kind == "site" and len(change) > 2:
                self._before.setdefault(change.key, change.before)
            if self._woken:
                return
            self._woken = True
        self._wake.emit()

    @Slot()
    def _on_wake(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def _drain(self) -> None:
        with self._lock:
            dirty, self._dirty, self._woken = self._dirty, {}, False
            before, self._before = self._before, {}
        if dirty:
            self.call(self._fetch, dirty, before, done=self._apply, what="Refresh")

    def _list_sites(self) -> list[Any]:
        return [self._prepare(state) for state in self.service.list_sites()]

    def _summary(self) -> Summary:
        service = self.service
        focused = service.focused_site()
        row = self._prepare(service.get_site(focused)) if focused else None
        first, count, undelivered = service.tray_summary(self.menu_sites)
        return Summary(focused, row, [self._prepare(s) for s in first], count, undelivered)

    BULK = 500  # above this many changed sites: one list_sites(), and no notifications

    def _fetch(self, dirty: dict[str, set[str]], before: dict[str, Any]) -> dict[str, Any]:
        """Worker side: read what changed."""
        service = self.service
        out: dict[str, Any] = {}
        sites = dirty.get("site", set()) | dirty.get("site_removed", set())
        if len(sites) > self.BULK:
            if self.table_live:
                out["all_sites"] = self._list_sites()
        elif sites:
            prepare = self._prepare
            out["sites"] = {site: prepare(service.get_site(site)) for site in sites}
            out["before"] = {site: prepare(before.get(site)) for site in sites}
        if sites or "focus" in dirty:
            out["summary"] = self._summary()
        if self.table_live and dirty.keys() & {"event", "delivery"}:
            out["events"] = service.list_events(None, self.EVENTS_SHOWN)
        if self.table_live and dirty.keys() & {"helper", "delivery"}:
            out["helpers"] = service.list_helpers()
        if "pairing" in dirty:
            out["pairings"] = service.list_pairings()
        return out

    def _apply(self, out: dict[str, Any]) -> None:
        if "all_sites" in out:
            self.sites_loaded.emit(out["all_sites"])
        if "sites" in out:
            self.sites_changed.emit(out["sites"], out["before"])
        if "summary" in out:
            self.summary_changed.emit(out["summary"])
        if "events" in out:
            self.events_changed.emit(out["events"])
        if "helpers" in out:
            self.helpers_changed.emit(out["helpers"])
        if "pairings" in out:
            self.pairings_changed.emit(out["pairings"])

    # -- shutdown ---------------------------------------------------------

    def close(self) -> None:
        """Stop listening and let the worker finish what it started."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._timer.stop()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None


class _Worker:
    """One thread running jobs in order, started with the first one. What the bridge
    needs of a one-worker ThreadPoolExecutor, without concurrent.futures, queue and
    heapq (0.2 MiB of idle RSS): no futures, nobody waits on a single job."""

    def __init__(self, name: str):
        self._name = name
        self._jobs: deque[Callable[[], None]] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._ready:
            if self._stopping:
                return
            self._jobs.append(job)
            if self._thread is None:
                # A daemon thread: shutdown() ends it; if nobody calls that, it must
                # not keep the process alive.
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft()
            try:
                job()
            except BaseException:  # the jobs report their own errors: this is a bug
                log.exception("the GUI worker's job failed")

    def shutdown(self) -> None:
        """Drop the jobs not started; wait for the one running, if any."""
        with self._ready:
            self._stopping = True
            self._jobs.clear()
            self._ready.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


def _nothing() -> None:
    return None


class DaemonBackend:
    """What the GUI may ask of a running daemon: its session service plus the
    helper registry (pairings, paired browsers), as one object for the bridge."""

    def __init__(self, daemon: Any):
        self._service = daemon.service
        self._registry = daemon.registry

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        return self._service.subscribe(listener)

    # Sites come as table rows over the service's immutable records: no JSON dict
    # per site on the way, and no second copy of every site in the GUI.

    def list_sites(self) -> list[Row]:
        return record_rows(*self._service.site_records())

    def get_site(self, site: str) -> Row | None:
        """``site`` is a key from the change feed (already normalised)."""
        service = self._service
        record = service.record(site)
        if record is None:
            return None
        return RecordRow(record, site == service.focused_site(), service.clock())

    def focused_site(self) -> str | None:
        return self._service.focused_site()

    def tray_summary(self, limit: int) -> tuple[list[Row], int, int]:
        """The first ``limit`` signed-in sites' rows, their count, and the sites whose
        last event reached no browser: indexed queries, however many sites there are."""
        service = self._service
        first, count, undelivered = service.tray_summary(limit, UNDELIVERED_CODES)
        return record_rows(first, service.focused_site(), service.clock()), count, undelivered

    def signed_in(self) -> list[dict[str, Any]]:
        return self._service.signed_in()

    def login(self, site: str, account: str | None, persistent: bool = False) -> dict[str, Any]:
        return self._service.login(site, account, persistent)

    def logout(self, site: str) -> dict[str, Any]:
        return self._service.logout(site)

    def logout_all(self) -> list[dict[str, Any]]:
        return self._service.logout_all()

    def forget_site(self, site: str) -> None:
        self._service.forget_site(site)

    def cancel_persistent(self, site: str) -> None:
        self._service.cancel_persistent(site)

    def list_events(self, site: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._service.list_events(site, limit)

    def list_helpers(self) -> list[dict[str, Any]]:
        return self._registry.list_helpers()

    def revoke_helper(self, helper_id: str) -> None:
        self._registry.revoke(helper_id)

    def list_pairings(self) -> list[dict[str, Any]]:
        return self._registry.list_pairings()

    def approve_pairing(self, pairing_id: str) -> None:
        self._registry.approve(pairing_id)

    def reject_pairing(self, pairing_id: str) -> None:
        self._registry.reject(pairing_id)
