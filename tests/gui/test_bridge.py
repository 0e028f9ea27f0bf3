"""The bridge: service work off the GUI thread, changes back as coalesced signals."""

from __future__ import annotations

import threading
from typing import Any

import samples
from conftest import FakeService
from PySide6.QtCore import QThread

from sessionmgr.errors import Conflict
from sessionmgr.gui.bridge import Bridge


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
    bridge.sites_changed.connect(batches.append)

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
    bridge.close()


def test_refresh_all_says_when_every_answer_is_in(qtbot: Any) -> None:
    """The app reports ready only then: the menu and doorhanger show the loaded sites."""
    service = FakeService([samples.SIGNED_IN])
    service.focused = "example.com"
    bridge = Bridge(service)
    seen: list[str] = []
    bridge.sites_loaded.connect(lambda rows: seen.append("sites"))
    bridge.focus_changed.connect(lambda site: seen.append(f"focus {site}"))
    bridge.pairings_changed.connect(lambda pairings: seen.append("pairings"))
    bridge.refresh_all(done=lambda: seen.append("done"))
    qtbot.waitUntil(lambda: "done" in seen)
    assert seen == ["sites", "focus example.com", "pairings", "done"]
    bridge.close()
