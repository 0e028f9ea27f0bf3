"""The bridge: service work off the GUI thread, changes back as coalesced signals."""

from __future__ import annotations

import threading
from typing import Any

import samples
from conftest import FakeService
from PySide6.QtCore import QThread

from sessionmgr.errors import Conflict
from sessionmgr.gui.bridge import Bridge, _Worker


def test_calls_run_on_the_worker_and_answer_on_the_gui_thread(qtbot: Any) -> None:
    service = FakeService([samples.SIGNED_IN])
    bridge = Bridge(service)
    answers: list[tuple[Any, bool]] = []

    def done(result: Any) -> None:
        answers.append((result, QThread.currentThread() is bridge.thread()))

    bridge.call(service.list_sites, done=done)
    qtbot.waitUntil(lambda: bool(answers))
    assert answers == [([samples.SIGNED_IN], True)]
    bridge.login("example.com", "bob@example.com", True)
    qtbot.waitUntil(lambda: ("login", ("example.com", "bob@example.com", True)) in service.names())
    threads = {thread for name, _, thread in service.calls}
    assert threading.current_thread().name not in threads
    bridge.close()


def test_errors_come_back_as_a_signal(qtbot: Any) -> None:
    service = FakeService([samples.SIGNED_IN])
    service.fail_with = Conflict("bob@example.com is already the active account on example.com")
    bridge = Bridge(service)
    with qtbot.waitSignal(bridge.error) as blocker:
        bridge.login("example.com", "bob@example.com")
    assert blocker.args == ["Switch example.com to bob@example.com",
                            "bob@example.com is already the active account on example.com"]
    service.fail_with = RuntimeError("a bug")
    with qtbot.waitSignal(bridge.error) as blocker:
        bridge.logout("example.com")
    assert blocker.args[1] == "An internal error occurred; see the log."
    bridge.close()


def test_changes_from_other_threads_are_coalesced(qtbot: Any) -> None:
    service = FakeService([samples.state(f"s{i}.example") for i in range(50)])
    bridge = Bridge(service)
    batches: list[dict[str, Any]] = []
    bridge.sites_changed.connect(lambda after, before: batches.append(after))

    def storm() -> None:
        for _ in range(20):
            for i in range(50):
                service.emit("site", f"s{i}.example")

    worker = threading.Thread(target=storm)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(batches) and set().union(*batches) == {f"s{i}.example"
                                                                  for i in range(50)})
    assert len(batches) <= 3  # 1,000 changes, a handful of batched refreshes
    gets = [args for name, args in service.names() if name == "get_site"]
    assert len(gets) <= 150
    assert len([name for name, _ in service.names() if name == "tray_summary"]) == len(batches)
    bridge.close()


def test_a_change_brings_the_rows_before_and_after_and_a_new_summary(qtbot: Any) -> None:
    """Enough to notify and redraw the tray without the GUI holding every site: the
    table's rows come only once the sessions window asks (``load_tables``)."""
    service = FakeService([samples.SIGNED_IN])
    bridge = Bridge(service)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    summaries: list[Any] = []
    loaded: list[list[Any]] = []
    bridge.sites_changed.connect(lambda after, before: changed.append((after, before)))
    bridge.summary_changed.connect(summaries.append)
    bridge.sites_loaded.connect(loaded.append)
    signed_out = {**samples.SIGNED_IN, "active": None, "indicator": "login"}
    service.put(signed_out)
    qtbot.waitUntil(lambda: bool(changed) and bool(summaries))
    after, before = changed[0]
    assert after == {"example.com": signed_out} and before == {"example.com": samples.SIGNED_IN}
    assert summaries[-1].signed_in_count == 0 and summaries[-1].signed_in == []
    assert not loaded and not bridge.table_live
    bridge.load_tables()
    qtbot.waitUntil(lambda: bool(loaded))
    assert loaded == [[signed_out]] and bridge.table_live
    bridge.close()


def test_events_and_browsers_are_read_only_for_the_sessions_window(qtbot: Any) -> None:
    """An idle tray does nothing per event or delivery: the newest events and the paired
    browsers are read when the sessions window asks (``load_tables``), and kept
    current by changes only from then on."""
    service = FakeService([samples.SIGNED_IN])
    service.events = [{"id": "e1", "site": "example.com"}]
    service.helpers = [{"id": "h1", "name": "Chromium"}]
    bridge = Bridge(service)
    events: list[list[Any]] = []
    helpers: list[list[Any]] = []
    summaries: list[Any] = []
    bridge.events_changed.connect(events.append)
    bridge.helpers_changed.connect(helpers.append)
    bridge.summary_changed.connect(summaries.append)
    loaded: list[bool] = []
    bridge.refresh_all(done=lambda: loaded.append(True))
    qtbot.waitUntil(lambda: bool(loaded))
    service.emit("delivery", "e1")
    service.emit("helper", "h1")
    service.emit("site", "example.com")  # the same batch brings a summary
    qtbot.waitUntil(lambda: len(summaries) == 2)
    reads = [name for name, _ in service.names() if name in ("list_events", "list_helpers")]
    assert (events, helpers, reads) == ([], [], [])

    bridge.load_tables()
    qtbot.waitUntil(lambda: bool(events) and bool(helpers))
    assert events == [service.events] and helpers == [service.helpers]
    service.emit("delivery", "e1")
    qtbot.waitUntil(lambda: len(events) == 2 and len(helpers) == 2)
    bridge.table_live = False  # the window closed
    service.emit("delivery", "e1")
    service.emit("site", "example.com")
    qtbot.waitUntil(lambda: len(summaries) == 3)
    assert len(events) == 2 and len(helpers) == 2
    bridge.close()


def test_refresh_all_says_when_every_answer_is_in(qtbot: Any) -> None:
    """The app reports ready only then: the menu and doorhanger show the loaded sites."""
    service = FakeService([samples.SIGNED_IN])
    service.focused = "example.com"
    bridge = Bridge(service)
    seen: list[str] = []
    bridge.sites_loaded.connect(lambda rows: seen.append("sites"))
    bridge.summary_changed.connect(
        lambda s: seen.append(f"summary {s.focused} {s.focused_row['active']} "
                              f"{s.signed_in_count}"))
    bridge.pairings_changed.connect(lambda pairings: seen.append("pairings"))
    bridge.refresh_all(done=lambda: seen.append("done"))
    qtbot.waitUntil(lambda: "done" in seen)
    assert seen == ["summary example.com bear@example.com 1", "pairings", "done"]
    bridge.close()


def test_the_worker_runs_jobs_in_order_on_one_thread_it_starts_when_needed() -> None:
    worker = _Worker("test-worker")
    assert worker._thread is None  # nothing submitted, no thread
    ran: list[tuple[int, str]] = []
    done = threading.Event()
    for i in range(20):
        worker.submit(lambda i=i: ran.append((i, threading.current_thread().name)))
    worker.submit(done.set)
    assert done.wait(10)
    assert ran == [(i, "test-worker") for i in range(20)]
    worker.shutdown()


def test_shutting_the_worker_down_lets_the_running_job_finish_and_drops_the_rest(
    qtbot: Any,
) -> None:
    worker = _Worker("test-worker")
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        ran.append("slow")

    worker.submit(slow)
    worker.submit(lambda: ran.append("queued"))
    assert started.wait(10)
    closing = threading.Thread(target=worker.shutdown)
    closing.start()
    qtbot.waitUntil(lambda: worker._stopping)  # the queued job is dropped by now
    release.set()
    closing.join(10)
    assert not closing.is_alive()
    assert ran == ["slow"]
    worker.submit(lambda: ran.append("late"))  # after shutdown: never runs
    assert ran == ["slow"] and not worker._jobs
