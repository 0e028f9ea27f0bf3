"""Pending actions time out on a thread that exists only once something is pending:
one created while running, and one left pending by the previous run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionmgr.service import Change, SessionService
from sessionmgr.store.repository import Store

TIMEOUT = 0.2  # seconds a pending action waits for the site
WAIT = 10.0    # the longest a test waits for the reaper; it answers in ~TIMEOUT


def reapers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pending-reaper"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite3"


@pytest.fixture
def running(db: Path) -> Iterator[SessionService]:
    store = Store(db)
    service = SessionService(store, pending_timeout=TIMEOUT)
    service.start()
    yield service
    service.stop()
    store.close()


def timed_out(service: SessionService, site: str) -> threading.Event:
    """Set when the service reports the site's pending action gone."""
    done = threading.Event()

    def listener(change: Change) -> None:
        if change[:2] == ("site", site) and service.get_site(site)["pending"] is None:
            done.set()

    service.subscribe(listener)
    return done


def test_nothing_pending_no_reaper_thread(running: SessionService) -> None:
    running.declare("example.com", {"sessions": [{"email": "a"}]})
    assert reapers() == []


def test_a_pending_logout_starts_the_reaper_and_times_out(running: SessionService) -> None:
    running.declare("example.com", {"sessions": [{"email": "a"}]})
    done = timed_out(running, "example.com")
    running.logout("example.com")
    assert len(reapers()) == 1
    assert done.wait(WAIT)
    assert running.get_site("example.com")["attention"]["code"] == "no_response"


def test_a_pending_left_by_the_previous_run_times_out_after_start(db: Path) -> None:
    store = Store(db)
    first = SessionService(store, pending_timeout=3600)  # never started: no reaper
    first.declare("example.com", {"sessions": [{"email": "a"}]})
    first.logout("example.com")
    assert reapers() == []
    store.close()

    store = Store(db)
    second = SessionService(store, pending_timeout=TIMEOUT)
    assert second.get_site("example.com")["pending"] is not None
    done = timed_out(second, "example.com")
    second.start()
    try:
        assert done.wait(WAIT)
        assert second.get_site("example.com")["attention"]["code"] == "no_response"
    finally:
        second.stop()
        store.close()
    assert reapers() == []
