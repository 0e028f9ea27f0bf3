"""GUI test fixtures: offscreen Qt, a fake service for pure view tests, and a
real in-process daemon for tests driven through the core."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import samples


class FakeService:
    """The SessionService surface the GUI uses, in memory, recording calls.

    Calls may come from the bridge's worker thread; ``calls`` records them
    with the thread that made each one.
    """

    def __init__(self, states: list[dict[str, Any]] | None = None):
        self.sites = {s["site"]: s for s in states or []}
        self.focused: str | None = None
        self.calls: list[tuple[str, tuple[Any, ...], str]] = []
        self.listeners: list[Callable[[Any], None]] = []
        self.events: list[dict[str, Any]] = []
        self.helpers: list[dict[str, Any]] = []
        self.pairings: list[dict[str, Any]] = []
        self.fail_with: Exception | None = None
        self.lock = threading.Lock()

    def _record(self, name: str, *args: Any) -> None:
        with self.lock:
            self.calls.append((name, args, threading.current_thread().name))
        if self.fail_with is not None:
            raise self.fail_with

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, kind: str, key: str) -> None:
        from sessionmgr.service import Change

        for listener in list(self.listeners):
            listener(Change(kind, key))

    def put(self, state: dict[str, Any]) -> None:
        before = self.sites.get(state["site"])
        self.sites[state["site"]] = state
        from sessionmgr.service import Change

        for listener in list(self.listeners):
            listener(Change("site", state["site"], before))  # type: ignore[arg-type]

    def signed_in(self) -> list[dict[str, Any]]:
        return [self.sites[k] for k in sorted(self.sites) if self.sites[k].get("active")]

    def tray_summary(self, limit: int) -> tuple[list[dict[str, Any]], int, int]:
        self._record("tray_summary", limit)
        signed_in = self.signed_in()
        undelivered = sum((s.get("attention") or {}).get("code") in ("undelivered", "helper_gone")
                          for s in self.sites.values())
        return signed_in[:limit], len(signed_in), undelivered

    def list_sites(self) -> list[dict[str, Any]]:
        self._record("list_sites")
        return [self.sites[k] for k in sorted(self.sites)]

    def get_site(self, site: str) -> dict[str, Any] | None:
        self._record("get_site", site)
        return self.sites.get(site)

    def focused_site(self) -> str | None:
        return self.focused

    def login(self, site: str, account: str | None, persistent: bool = False) -> dict[str, Any]:
        self._record("login", site, account, persistent)
        return samples.event(site, account=account)

    def logout(self, site: str) -> dict[str, Any]:
        self._record("logout", site)
        return samples.event(site, "logout")

    def logout_all(self) -> list[dict[str, Any]]:
        self._record("logout_all")
        return []

    def forget_site(self, site: str) -> None:
        self._record("forget_site", site)

    def cancel_persistent(self, site: str) -> None:
        self._record("cancel_persistent", site)

    def list_events(self, site: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        self._record("list_events", site, limit)
        return list(self.events)

    def list_helpers(self) -> list[dict[str, Any]]:
        self._record("list_helpers")
        return list(self.helpers)

    def revoke_helper(self, helper_id: str) -> None:
        self._record("revoke_helper", helper_id)

    def list_pairings(self) -> list[dict[str, Any]]:
        return list(self.pairings)

    def approve_pairing(self, pairing_id: str) -> None:
        self._record("approve_pairing", pairing_id)

    def reject_pairing(self, pairing_id: str) -> None:
        self._record("reject_pairing", pairing_id)

    def names(self) -> list[tuple[str, tuple[Any, ...]]]:
        with self.lock:
            return [(name, args) for name, args, _ in self.calls]


@pytest.fixture
def fake_service() -> FakeService:
    return FakeService([samples.SIGNED_IN])


@pytest.fixture
def controller(qtbot: Any, fake_service: FakeService) -> Iterator[Any]:
    """A Controller over the fake service, with no tray (offscreen has none)."""
    from sessionmgr.gui.controller import Controller

    made = Controller(fake_service, tray_available=False)
    yield made
    made.close()
