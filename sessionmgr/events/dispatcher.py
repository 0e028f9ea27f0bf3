"""Delivering outbox rows to browser-helper endpoints as signed webhooks.

The store decides *what* is due (per helper only its oldest unfinished
delivery, which is what keeps a logout from overtaking the login before it);
the dispatcher decides *when* and does the HTTP. One scheduler thread asks
the store for due heads and hands them to a few worker threads, so a helper
that hangs until the read timeout only ties up one worker and the others keep
delivering to everyone else. When nothing is due the scheduler blocks on a
condition until the store's next due time or :meth:`Dispatcher.wake`: an idle
daemon does no work at all.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sessionmgr.events import backoff, webhooks

if TYPE_CHECKING:
    import requests

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "DelayPolicy",
    "Delivery",
    "DeliveryStore",
    "Dispatcher",
]

log = logging.getLogger("sessionmgr.events")

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

# We only need to know the helper answered; its body is of no interest.
_MAX_RESPONSE_BYTES = 64 * 1024
# After an unexpected error from the store, wait this long before asking again.
_STORE_ERROR_PAUSE = 1.0


class Delivery(NamedTuple):
    """One event for one helper, as the store hands it out."""

    event_id: str
    helper_id: str
    events_url: str
    body: bytes
    attempts: int
    first_attempt_at: float | None

    def __repr__(self) -> str:  # not the body: logs need not carry it
        return (f"Delivery(event_id={self.event_id!r}, helper_id={self.helper_id!r}, "
                f"attempts={self.attempts!r})")


class DeliveryStore(Protocol):
    """Where deliveries live (the SQLite outbox in the daemon)."""

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Per enabled helper only its oldest not-yet-final delivery, and only if due at ``now``."""
        ...

    def next_due_at(self) -> float | None:
        """Earliest next attempt among those heads; ``None`` when nothing is pending."""
        ...

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
        """Store an attempt's outcome.

        ``at`` is when the attempt started; the store keeps the first one as
        ``first_attempt_at``. ``next_attempt_at`` is set only for ``pending``.
        """
        ...

    def helper_gone(self, helper_id: str, reason: str) -> None:
        """The helper answered 410: disable it; its queued rows become ``failed``."""
        ...


class DelayPolicy(Protocol):
    """The shape of :func:`sessionmgr.events.backoff.next_delay` (injectable for tests)."""

    def __call__(
        self,
        attempts: int,
        *,
        first_attempt_at: float,
        now: float,
        retry_after: str | None = None,
    ) -> float | None: ...


def _is_loopback_http(url: str) -> bool:
    """Webhooks carry login state: never send them off this machine, whatever the store says."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme == "http" and host in ("127.0.0.1", "localhost", "::1")


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps (requests and urllib3 nest the socket error deeply)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return seen


def _new_session() -> requests.Session:
    """One HTTP session per worker, imported on first use: idle daemons never load requests."""
    import requests

    session = requests.Session()
    session.trust_env = False  # an HTTP_PROXY must not capture loopback traffic
    return session


class Dispatcher:
    """Delivers due outbox rows with signed POSTs, retrying with backoff, in order per helper.

    ``on_change(event_id)`` runs on a worker thread after every recorded
    attempt and ``on_helper_gone(helper_id)`` after a 410; both must hand off
    quickly (the GUI goes through its bridge). ``workers`` bounds how many
    helpers are contacted at once, so it is also how many hanging helpers it
    takes to delay the others. ``next_delay`` is the retry policy (tests
    inject a faster one).
    """

    def __init__(
        self,
        store: DeliveryStore,
        secrets_for: Callable[[str], Sequence[str]],
        *,
        clock: Callable[[], float] = time.time,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        on_change: Callable[[str], None] | None = None,
        workers: int = 4,
        next_delay: DelayPolicy = backoff.next_delay,
        on_helper_gone: Callable[[str], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._store = store
        self._secrets_for = secrets_for
        self._clock = clock
        self._timeouts = (connect_timeout, read_timeout)
        self._on_change = on_change
        self._on_helper_gone = on_helper_gone
        self._workers = workers
        self._next_delay = next_delay

        self._lock = threading.Lock()
        self._sched_cond = threading.Condition(self._lock)  # scheduler waits here
        self._work_cond = threading.Condition(self._lock)  # workers wait here
        self._idle_cond = threading.Condition(self._lock)  # wait_idle() waits here
        self._ready: collections.deque[Delivery] = collections.deque()
        self._inflight: set[str] = set()  # helper ids with a delivery handed out
        # Next attempt times this dispatcher wrote, per helper: the store only
        # tells the earliest head, which may be one that is in flight.
        self._known_due: dict[str, float] = {}
        self._held: dict[str, float] = {}  # helper -> not before (after a store error)
        self._dirty = False
        self._stopping = False
        self._parked = False
        self._threads: list[threading.Thread] = []  # the scheduler, then workers

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler thread; worker threads start with the first deliveries
        (an idle app keeps none). Daemon threads: stop() is still expected."""
        with self._lock:
            if self._threads:
                raise RuntimeError("dispatcher already started")
            self._stopping = False
            self._dirty = True
            scheduler = threading.Thread(
                target=self._schedule, name="sessionmgr-events", daemon=True
            )
            self._threads = [scheduler]
        scheduler.start()
        log.debug("dispatcher started (up to %d worker(s))", self._workers)

    def _add_workers_locked(self) -> None:
        """As many workers as deliveries are handed out, up to ``workers``."""
        while (started := len(self._threads) - 1) < min(self._workers, len(self._inflight)):
            worker = threading.Thread(  # (in flight includes ready)
                target=self._work, name=f"sessionmgr-events-worker-{started}", daemon=True
            )
            self._threads.append(worker)
            worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop all threads; an attempt in flight finishes (or times out) and is recorded."""
        with self._lock:
            self._stopping = True
            self._sched_cond.notify_all()
            self._work_cond.notify_all()
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            # Handed out but never started: they stay due in the store.
            for d in self._ready:
                self._inflight.discard(d.helper_id)
            self._ready.clear()
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            log.warning("dispatcher threads still running after %.1f s: %s", timeout, stuck)

    def wake(self) -> None:
        """A new event was written (or a helper changed): look for due deliveries now."""
        with self._lock:
            self._dirty = True
            self._sched_cond.notify()

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The running threads (for tests and diagnostics)."""
        with self._lock:
            return tuple(self._threads)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is in flight and the scheduler waits with no deadline.

        True means nothing is pending at all and no thread is doing anything.
        """
        with self._lock:
            return self._idle_cond.wait_for(lambda: self._parked, timeout)

    # -- scheduler ---------------------------------------------------------

    def _schedule(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                self._dirty = False
                free = self._workers - len(self._inflight)  # in flight includes ready
                busy = set(self._inflight)
                held = dict(self._held)
            try:
                now = self._clock()
                fresh = self._fresh_due(now, free, busy, held) if free > 0 else []
                if fresh:
                    with self._lock:
                        for d in fresh:
                            self._inflight.add(d.helper_id)
                            self._ready.append(d)
                        if not self._stopping:
                            self._add_workers_locked()
                        self._work_cond.notify(len(fresh))
                    continue
                timeout = self._wait_timeout(now, busy)
            except Exception:
                log.exception("delivery store failed; trying again shortly")
                timeout = _STORE_ERROR_PAUSE
            with self._lock:
                if self._stopping or self._dirty:
                    continue
                self._parked = timeout is None and not self._inflight and not self._ready
                if self._parked:
                    self._idle_cond.notify_all()
                self._sched_cond.wait(timeout)
                self._parked = False

    def _fresh_due(
        self, now: float, free: int, busy: set[str], held: dict[str, float]
    ) -> list[Delivery]:
        """Due heads not handed out or held; asks for enough rows to see past those."""
        skip = busy | {h for h, t in held.items() if t > now}
        due = self._store.due_deliveries(now, free + len(skip))
        return [d for d in due if d.helper_id not in skip][:free]

    def _wait_timeout(self, now: float, busy: set[str]) -> float | None:
        """Seconds until something may be due, ``None`` for "until woken"."""
        earliest = self._store.next_due_at()
        with self._lock:
            for table in (self._known_due, self._held):
                for helper, t in list(table.items()):
                    if t <= now:
                        del table[helper]
            candidates = [t for h, t in self._known_due.items() if h not in busy]
            candidates += self._held.values()
        if earliest is not None and earliest > now:
            candidates.append(earliest)
        elif earliest is not None and not busy and not candidates:
            # Due but not handed out: nothing we know explains it. Do not spin.
            log.debug("store reports a due delivery it did not return")
            return _STORE_ERROR_PAUSE
        if not candidates:
            return None
        return max(0.0, min(candidates) - now)

    # -- workers -----------------------------------------------------------

    def _work(self) -> None:
        session: requests.Session | None = None  # made at the first delivery
        try:
            while True:
                with self._lock:
                    while not self._ready and not self._stopping:
                        self._work_cond.wait()
                    if self._stopping:
                        return
                    delivery = self._ready.popleft()
                try:
                    if session is None:
                        session = _new_session()
                    self._deliver(session, delivery)
                except Exception:
                    log.exception(
                        "delivering event %s to helper %s failed unexpectedly",
                        delivery.event_id,
                        delivery.helper_id,
                    )
                    with self._lock:
                        self._held[delivery.helper_id] = self._clock() + _STORE_ERROR_PAUSE
                finally:
                    with self._lock:
                        self._inflight.discard(delivery.helper_id)
                        self._dirty = True
                        self._sched_cond.notify()
        finally:
            if session is not None:
                session.close()

    def _deliver(self, session: requests.Session, d: Delivery) -> None:
        at = self._clock()
        first = d.first_attempt_at if d.first_attempt_at is not None else at
        attempts = d.attempts + 1
        status_code, error, retry_after = self._post(session, d, int(at))

        if status_code is not None and 200 <= status_code < 300:
            self._record(d, status=DELIVERED, attempts=attempts, next_at=None, error=None, at=at)
            log.debug(
                "event %s delivered to helper %s (attempt %d)", d.event_id, d.helper_id, attempts
            )
            return

        if status_code == 410:
            self._record(
                d,
                status=FAILED,
                attempts=attempts,
                next_at=None,
                error="HTTP 410: helper gone",
                at=at,
            )
            log.info("helper %s answered 410 Gone; disabling it", d.helper_id)
            self._store.helper_gone(d.helper_id, "helper answered 410 Gone")
            if self._on_helper_gone is not None:
                self._call(self._on_helper_gone, d.helper_id)
            return

        now = self._clock()
        delay = self._next_delay(attempts, first_attempt_at=first, now=now, retry_after=retry_after)
        if delay is None:
            self._record(d, status=FAILED, attempts=attempts, next_at=None, error=error, at=at)
            log.warning(
                "gave up delivering event %s to helper %s after %d attempts: %s",
                d.event_id,
                d.helper_id,
                attempts,
                error,
            )
        else:
            self._record(
                d, status=PENDING, attempts=attempts, next_at=now + delay, error=error, at=at
            )
            log.debug(
                "event %s to helper %s: %s; retry in %.1f s", d.event_id, d.helper_id, error, delay
            )

    def _post(
        self, session: requests.Session, d: Delivery, timestamp: int
    ) -> tuple[int | None, str, str | None]:
        """One POST: (status or None, short error text, Retry-After)."""
        import requests  # loaded by _new_session already; a dictionary lookup here

        if not _is_loopback_http(d.events_url):
            return None, "events_url is not a loopback http URL", None
        try:
            secrets = list(self._secrets_for(d.helper_id))
            headers = webhooks.webhook_headers(secrets, d.event_id, timestamp, d.body)
        except Exception as exc:  # keyring trouble, a deleted helper, a malformed secret
            # The exception text might quote a secret: only its type is logged.
            log.warning(
                "no usable webhook secret for helper %s (%s)", d.helper_id, type(exc).__name__
            )
            return None, "webhook secret unavailable", None
        try:
            with session.post(
                d.events_url,
                data=d.body,
                headers=headers,
                timeout=self._timeouts,
                allow_redirects=False,
                stream=True,
            ) as resp:
                # Read (a bounded amount of) the answer so the connection can be reused.
                for _ in resp.iter_content(_MAX_RESPONSE_BYTES):
                    break
                code = resp.status_code
                retry_after = resp.headers.get("Retry-After")
        except requests.RequestException as exc:
            return None, self._describe(exc), None
        if 200 <= code < 300 or code == 410:
            return code, "", None
        if 300 <= code < 400:
            return code, f"redirect ({code}) not followed", retry_after
        return code, f"HTTP {code}", retry_after

    def _describe(self, exc: requests.RequestException) -> str:
        """A short human text for a failed request (what the GUI shows as last error)."""
        import http.client  # loaded with requests; not at import, which the daemon start pays

        import requests

        connect, read = self._timeouts
        if isinstance(exc, requests.ConnectTimeout):
            return f"connect timed out after {connect:g} s"
        if isinstance(exc, requests.Timeout):
            return f"timed out after {read:g} s"
        chain = _causes(exc)
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return "connection refused"
        if any(isinstance(e, ConnectionResetError) for e in chain):
            return "connection reset"
        if any(isinstance(e, http.client.RemoteDisconnected) for e in chain):
            return "connection closed without an answer"
        if isinstance(exc, requests.ConnectionError):
            return "connection failed"
        return f"request failed ({type(exc).__name__})"

    def _record(
        self,
        d: Delivery,
        *,
        status: str,
        attempts: int,
        next_at: float | None,
        error: str | None,
        at: float,
    ) -> None:
        self._store.record_attempt(
            d.event_id,
            d.helper_id,
            status=status,
            attempts=attempts,
            next_attempt_at=next_at,
            last_error=error,
            at=at,
        )
        with self._lock:
            if next_at is None:
                self._known_due.pop(d.helper_id, None)
            else:
                self._known_due[d.helper_id] = next_at
        if self._on_change is not None:
            self._call(self._on_change, d.event_id)

    @staticmethod
    def _call(callback: Callable[[str], None], arg: str) -> None:
        try:
            callback(arg)
        except Exception:
            log.exception("dispatcher callback failed")
