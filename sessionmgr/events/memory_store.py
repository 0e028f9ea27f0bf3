"""An in-memory :class:`~sessionmgr.events.dispatcher.DeliveryStore`: the reference
semantics of the SQLite outbox, for tests and tools. Its own module, so the
daemon does not load it."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

from sessionmgr.events.dispatcher import DELIVERED, FAILED, PENDING, Delivery

__all__ = ["MemoryDeliveryStore"]


@dataclass
class _Row:
    event_id: str
    helper_id: str
    body: bytes = field(repr=False)
    status: str = PENDING
    attempts: int = 0
    first_attempt_at: float | None = None
    next_attempt_at: float = 0.0
    last_error: str | None = None
    last_attempt_at: float | None = None


class MemoryDeliveryStore:
    """A :class:`DeliveryStore` in memory: the reference semantics, for tests and tools."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}
        self._gone: dict[str, str] = {}
        self._rows: list[_Row] = []
        self.calls: collections.Counter[str] = collections.Counter()

    def add_helper(self, helper_id: str, events_url: str) -> None:
        with self._lock:
            self._urls[helper_id] = events_url
            self._gone.pop(helper_id, None)

    def add(self, event_id: str, helper_id: str, body: bytes, *, due_at: float = 0.0) -> None:
        """Queue ``body`` for ``helper_id`` (due at once by default)."""
        with self._lock:
            if helper_id not in self._urls:
                raise KeyError(helper_id)
            self._rows.append(_Row(event_id, helper_id, bytes(body), next_attempt_at=due_at))

    def row(self, event_id: str, helper_id: str) -> _Row:
        """A copy of one row."""
        for r in self.rows(event_id):
            if r.helper_id == helper_id:
                return r
        raise KeyError((event_id, helper_id))

    def rows(self, event_id: str | None = None) -> list[_Row]:
        """Copies of the rows (of one event), in the order they were added."""
        with self._lock:
            return [
                _Row(**vars(r)) for r in self._rows if event_id is None or r.event_id == event_id
            ]

    def gone(self, helper_id: str) -> str | None:
        with self._lock:
            return self._gone.get(helper_id)

    def _heads(self) -> list[_Row]:
        heads: dict[str, _Row] = {}
        for r in self._rows:
            if r.status == PENDING and r.helper_id not in self._gone:
                heads.setdefault(r.helper_id, r)
        return list(heads.values())

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        with self._lock:
            self.calls["due_deliveries"] += 1
            due = sorted(
                (r for r in self._heads() if r.next_attempt_at <= now),
                key=lambda r: r.next_attempt_at,
            )
            return [
                Delivery(
                    r.event_id,
                    r.helper_id,
                    self._urls[r.helper_id],
                    r.body,
                    r.attempts,
                    r.first_attempt_at,
                )
                for r in due[:limit]
            ]

    def next_due_at(self) -> float | None:
        with self._lock:
            self.calls["next_due_at"] += 1
            return min((r.next_attempt_at for r in self._heads()), default=None)

    def record_attempt(
        self,
        event_id: str,
        helper_id: str,
        *,
        status: str,
        attempts: int,
        next_attempt_at: float | None,
        last_error: str | None,
        at: float,
    ) -> None:
        if status not in (PENDING, DELIVERED, FAILED):
            raise ValueError(status)
        if (status == PENDING) != (next_attempt_at is not None):
            raise ValueError("a pending row needs next_attempt_at, a final one must not have it")
        with self._lock:
            self.calls["record_attempt"] += 1
            for r in self._rows:
                if r.event_id == event_id and r.helper_id == helper_id:
                    r.status = status
                    r.attempts = attempts
                    r.last_error = last_error
                    r.last_attempt_at = at
                    if r.first_attempt_at is None:
                        r.first_attempt_at = at
                    if next_attempt_at is not None:
                        r.next_attempt_at = next_attempt_at
                    return
        raise KeyError((event_id, helper_id))

    def helper_gone(self, helper_id: str, reason: str) -> None:
        with self._lock:
            self.calls["helper_gone"] += 1
            self._gone[helper_id] = reason
            for r in self._rows:
                if r.helper_id == helper_id and r.status == PENDING:
                    r.status = FAILED
                    r.last_error = r.last_error or reason
