"""The dispatcher against real loopback HTTP receivers (no mocked requests)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from sessionmgr.events.backoff import next_delay
from sessionmgr.events.dispatcher import Dispatcher
from sessionmgr.events.memory_store import MemoryDeliveryStore
from sessionmgr.events.webhooks import WebhookVerifier, new_webhook_secret
from tests.receivers import Received, Receiver, Reply, unused_port

TIMEOUT = 5.0


def event_body(event_id: str, type_: str = "logout") -> bytes:
    return json.dumps({"id": event_id, "type": type_, "site": "example.com",
                       "account": "a@example.com", "previous": None,
                       "persistent": False, "created_at": 1}).encode()


def fast_delay(attempts: int, *, first_attempt_at: float, now: float,
               retry_after: str | None = None) -> float | None:
    """Retries at once, so tests of retry behaviour run in milliseconds."""
    return 0.01


class SkewedClock:
    """Real time plus an offset the test moves forward (so integer timestamps advance)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds


class Changes:
    """Collects on_change calls with a snapshot of the event's rows; tests wait on it."""

    def __init__(self, store: MemoryDeliveryStore) -> None:
        self.store = store
        self.seen: list[tuple[str, list[Any]]] = []
        self._cond = threading.Condition()

    def __call__(self, event_id: str) -> None:
        snapshot = self.store.rows(event_id)
        with self._cond:
            self.seen.append((event_id, snapshot))
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), f"not reached; saw {self.seen}"

    def wait_row(self, event_id: str, helper_id: str, predicate: Callable[[Any], bool],
                 timeout: float = TIMEOUT) -> Any:
        """Wait until a recorded attempt left the row in a state matching ``predicate``."""
        found: list[Any] = []

        def check() -> bool:
            for eid, rows in self.seen:
                for r in rows:
                    if eid == event_id and r.helper_id == helper_id and predicate(r):
                        found.append(r)
                        return True
            return False

        self.wait_until(check, timeout)
        return found[0]


@pytest.fixture
def store() -> MemoryDeliveryStore:
    return MemoryDeliveryStore()


@pytest.fixture
def changes(store: MemoryDeliveryStore) -> Changes:
    return Changes(store)


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        r = Receiver(**kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def secrets() -> dict[str, list[str]]:
    return {}


@pytest.fixture
def start(
    store: MemoryDeliveryStore, changes: Changes, secrets: dict[str, list[str]],
    receiver_factory: Callable[..., Receiver],
) -> Iterator[Callable[..., Dispatcher]]:
    """Start a dispatcher; it is stopped (before the receivers close) at teardown."""
    made: list[Dispatcher] = []

    def run(**kwargs: Any) -> Dispatcher:
        kwargs.setdefault("on_change", changes)
        kwargs.setdefault("next_delay", fast_delay)
        d = Dispatcher(store, lambda helper: secrets[helper], **kwargs)
        d.start()
        made.append(d)
        return d

    yield run
    for d in made:
        d.stop()
        assert not any(t.is_alive() for t in d.threads)


def add_helper(store: MemoryDeliveryStore, secrets: dict[str, list[str]], helper_id: str,
               url: str) -> str:
    secret = new_webhook_secret()
    secrets[helper_id] = [secret]
    store.add_helper(helper_id, url)
    return secret


def ids(received: Sequence[Received]) -> list[str]:
    return [r.headers["webhook-id"] for r in received]


# -- signing ---------------------------------------------------------------


def test_delivery_is_signed_and_verified_by_the_reference_library(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory()
    secret = add_helper(store, secrets, "h1", rx.url)
    event_id = str(uuid.uuid4())
    body = event_body(event_id)
    store.add(event_id, "h1", body)
    dispatcher = start()
    dispatcher.wake()

    (got,) = rx.wait_for(1)
    assert got.method == "POST" and got.path == "/events"
    assert got.body == body  # exactly as stored
    assert got.headers["webhook-id"] == event_id
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 5
    assert Webhook(secret).verify(got.body, got.headers) == json.loads(body)
    assert WebhookVerifier([secret]).verify(got.headers, got.body)["id"] == event_id

    row = changes.wait_row(event_id, "h1", lambda r: r.status == "delivered")
    assert (row.attempts, row.last_error) == (1, None)
    assert row.first_attempt_at == row.last_attempt_at is not None
    assert dispatcher.wait_idle(TIMEOUT)


def test_rotation_sends_both_signatures_and_each_secret_verifies(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]],
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory()
    old = add_helper(store, secrets, "h1", rx.url)
    new = new_webhook_secret()
    secrets["h1"] = [old, new]
    store.add("e1", "h1", event_body("e1"))
    start().wake()

    (got,) = rx.wait_for(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(got.body, got.headers)["id"] == "e1"


# -- retries and order ------------------------------------------------------


def test_two_failures_then_success_resend_the_same_id_and_body(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    clock = SkewedClock()
    rx = receiver_factory(on_request=lambda _: clock.advance(10))
    rx.fail(2, 503)
    secret = add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    dispatcher = start(clock=clock)
    dispatcher.wake()

    got = rx.wait_for(3)
    assert ids(got) == ["e1"] * 3
    stamps = [int(r.headers["webhook-timestamp"]) for r in got]
    assert stamps == sorted(set(stamps)), stamps  # strictly increasing
    assert {r.body for r in got} == {event_body("e1")}
    verifier = WebhookVerifier([secret], clock=clock)
    assert verifier.verify(got[-1].headers, got[-1].body)["id"] == "e1"

    assert changes.wait_row("e1", "h1", lambda r: r.status == "delivered").attempts == 3
    history = [(rows[0].status, rows[0].attempts, rows[0].last_error) for _, rows in changes.seen]
    assert history == [("pending", 1, "HTTP 503"), ("pending", 2, "HTTP 503"),
                       ("delivered", 3, None)]
    assert dispatcher.wait_idle(TIMEOUT)
    assert len(rx.received) == 3


def test_order_is_kept_under_retries(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory()
    rx.fail(2, 500)
    add_helper(store, secrets, "h1", rx.url)
    for eid in ("A", "B", "C"):
        store.add(eid, "h1", event_body(eid))
    dispatcher = start(workers=4)
    dispatcher.wake()

    assert ids(rx.wait_for(5)) == ["A", "A", "A", "B", "C"]
    assert dispatcher.wait_idle(TIMEOUT)
    assert [r.status for r in store.rows()] == ["delivered"] * 3
    assert len(rx.received) == 5


# -- what is not followed or not trusted -------------------------------------


def test_redirect_is_not_followed_and_recorded_honestly(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    elsewhere = receiver_factory()
    rx = receiver_factory()
    rx.script(Reply(307, {"Location": elsewhere.url}))
    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    dispatcher = start()
    dispatcher.wake()

    row = changes.wait_row("e1", "h1", lambda r: r.attempts == 1)
    assert (row.status, row.last_error) == ("pending", "redirect (307) not followed")
    changes.wait_row("e1", "h1", lambda r: r.status == "delivered")  # the retry, same place
    assert dispatcher.wait_idle(TIMEOUT)
    assert ids(rx.received) == ["e1", "e1"]
    assert elsewhere.received == []


def test_http_proxy_in_the_environment_is_ignored(
    monkeypatch: pytest.MonkeyPatch, store: MemoryDeliveryStore,
    secrets: dict[str, list[str]], receiver_factory: Callable[..., Receiver],
    start: Callable[..., Dispatcher],
) -> None:
    proxy = receiver_factory()
    rx = receiver_factory()
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.base_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # The trap is real: a default requests session does go through the proxy.
    with requests.Session() as naive:
        naive.post(rx.url, data=b"{}", timeout=TIMEOUT).close()
    assert proxy.wait_for(1)[0].path == rx.url
    assert rx.received == []

    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    dispatcher = start()
    dispatcher.wake()
    assert ids(rx.wait_for(1)) == ["e1"]
    assert dispatcher.wait_idle(TIMEOUT)
    assert len(proxy.received) == 1  # only the naive request above


def test_non_loopback_events_url_is_never_contacted(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    start: Callable[..., Dispatcher],
) -> None:
    add_helper(store, secrets, "h1", "http://192.0.2.1/events")
    store.add("e1", "h1", event_body("e1"))
    start().wake()
    row = changes.wait_row("e1", "h1", lambda r: r.attempts == 1)
    assert (row.status, row.last_error) == ("pending", "events_url is not a loopback http URL")


# -- 410, Retry-After, giving up ----------------------------------------------


def test_410_disables_the_helper_and_fails_its_queue(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory(default=Reply(410))
    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    store.add("e2", "h1", event_body("e2"))
    gone: list[str] = []
    dispatcher = start(on_helper_gone=gone.append)
    dispatcher.wake()

    row = changes.wait_row("e1", "h1", lambda r: r.status == "failed")
    assert row.attempts == 1 and "410" in row.last_error
    assert dispatcher.wait_idle(TIMEOUT)
    assert store.gone("h1") is not None
    assert gone == ["h1"]
    assert store.row("e2", "h1").status == "failed"
    assert ids(rx.received) == ["e1"]


def test_retry_after_sets_the_next_attempt(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory(default=Reply(503, {"Retry-After": "120"}))
    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    start(next_delay=next_delay).wake()  # the real schedule: 0.2 s unless told otherwise

    row = changes.wait_row("e1", "h1", lambda r: r.attempts == 1)
    assert row.status == "pending" and row.last_error == "HTTP 503"
    assert 120 <= row.next_attempt_at - row.last_attempt_at < 125


def test_gives_up_after_a_day_of_hourly_failures(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    clock = SkewedClock()
    rx = receiver_factory(default=Reply(503), on_request=lambda _: clock.advance(3600))

    def real_give_up_fast_retries(attempts: int, **kw: Any) -> float | None:
        # Give-up decided by the real schedule on the skewed clock; real waits shrunk.
        delay = next_delay(attempts, rng=lambda: 0.5, **kw)
        return None if delay is None else 0.001

    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    start(clock=clock, next_delay=real_give_up_fast_retries).wake()

    row = changes.wait_row("e1", "h1", lambda r: r.status == "failed")
    # Each attempt costs an hour of skewed time (plus a few real ms): attempt 23 ends
    # just after 23 h, and another hour would be past the day, so that was the last.
    assert row.attempts == 23
    assert 22 * 3600 < row.last_attempt_at - row.first_attempt_at < 22 * 3600 + 60
    assert row.last_error == "HTTP 503"
    assert len(rx.received) == 23


# -- errors in words ----------------------------------------------------------


def test_connection_refused_is_retried_with_a_plain_error(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    start: Callable[..., Dispatcher],
) -> None:
    add_helper(store, secrets, "h1", f"http://127.0.0.1:{unused_port()}/events")
    store.add("e1", "h1", event_body("e1"))
    start().wake()
    row = changes.wait_row("e1", "h1", lambda r: r.attempts == 2)
    assert (row.status, row.last_error) == ("pending", "connection refused")


def test_hanging_helper_times_out(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory(default=Reply(hang=True))
    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    start(read_timeout=0.3).wake()
    row = changes.wait_row("e1", "h1", lambda r: r.attempts == 1)
    assert (row.status, row.last_error) == ("pending", "timed out after 0.3 s")
    rx.release()


def test_unavailable_secret_is_a_retry_and_nothing_secret_is_logged(
    caplog: pytest.LogCaptureFixture, store: MemoryDeliveryStore,
    secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    caplog.set_level(logging.DEBUG, logger="sessionmgr.events")
    rx = receiver_factory()
    rx.fail(1, 503)
    secret = add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"))
    store.add_helper("h2", rx.url)  # no secret known for h2
    store.add("e2", "h2", event_body("e2"))
    dispatcher = start()
    dispatcher.wake()

    row = changes.wait_row("e2", "h2", lambda r: r.attempts == 1)
    assert (row.status, row.last_error) == ("pending", "webhook secret unavailable")
    changes.wait_row("e1", "h1", lambda r: r.status == "delivered")
    dispatcher.stop()
    assert "sessionmgr.events" in {r.name for r in caplog.records}
    text = caplog.text
    assert secret not in text and secret.removeprefix("whsec_") not in text
    assert "a@example.com" not in text  # nothing from the body


# -- isolation and idleness ----------------------------------------------------


def test_a_down_or_hanging_helper_does_not_delay_another(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    hanging = receiver_factory(default=Reply(hang=True))
    healthy = receiver_factory()
    add_helper(store, secrets, "hang", hanging.url)
    add_helper(store, secrets, "down", f"http://127.0.0.1:{unused_port()}/events")
    add_helper(store, secrets, "ok", healthy.url)
    store.add("e1", "hang", event_body("e1"))
    store.add("e1", "down", event_body("e1"))
    dispatcher = start(read_timeout=60)  # a hang would hold a worker for a minute
    try:
        dispatcher.wake()
        hanging.wait_for(1)
        changes.wait_row("e1", "down", lambda r: r.attempts >= 3)  # still retrying fast

        store.add("e2", "ok", event_body("e2"))
        dispatcher.wake()
        assert ids(healthy.wait_for(1, timeout=TIMEOUT)) == ["e2"]
        changes.wait_row("e2", "ok", lambda r: r.status == "delivered")
    finally:
        hanging.release()  # let the hung worker finish so teardown joins it


def test_idle_dispatcher_waits_without_polling_and_wakes_at_once(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory()
    add_helper(store, secrets, "h1", rx.url)
    dispatcher = start()
    # Parked means: the scheduler is in Condition.wait() with no timeout.
    assert dispatcher.wait_idle(TIMEOUT)
    calls = dict(store.calls)
    assert calls.get("record_attempt", 0) == 0
    assert all(t.is_alive() for t in dispatcher.threads)
    assert dispatcher.wait_idle(0)  # still parked, nothing happened in between
    assert dict(store.calls) == calls
    assert [t.name for t in dispatcher.threads] == ["sessionmgr-events"]  # no idle workers

    store.add("e1", "h1", event_body("e1"))
    dispatcher.wake()
    assert ids(rx.wait_for(1)) == ["e1"]
    changes.wait_row("e1", "h1", lambda r: r.status == "delivered")
    assert dispatcher.wait_idle(TIMEOUT)
    assert [t.name for t in dispatcher.threads] == [
        "sessionmgr-events", "sessionmgr-events-worker-0"]  # one delivery, one worker


def test_a_future_retry_is_slept_until_not_polled(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    rx = receiver_factory()
    add_helper(store, secrets, "h1", rx.url)
    store.add("e1", "h1", event_body("e1"), due_at=time.time() + 0.5)
    dispatcher = start()
    (got,) = rx.wait_for(1)
    assert got.at >= store.row("e1", "h1").next_attempt_at
    changes.wait_row("e1", "h1", lambda r: r.status == "delivered")
    assert dispatcher.wait_idle(TIMEOUT)
    # One look at start, one when it fell due, one after recording: no polling in between.
    assert store.calls["due_deliveries"] <= 4


def test_stop_is_prompt_and_joins_every_thread(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]],
) -> None:
    dispatcher = Dispatcher(store, lambda h: secrets[h], workers=3)
    dispatcher.start()
    threads = dispatcher.threads
    assert [t.name for t in threads] == ["sessionmgr-events"]  # workers come with work
    began = time.monotonic()
    dispatcher.stop()
    assert time.monotonic() - began < 1
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(ValueError):
        Dispatcher(store, lambda h: secrets[h], workers=0)


def test_rows_left_pending_are_delivered_by_the_next_dispatcher(
    store: MemoryDeliveryStore, secrets: dict[str, list[str]], changes: Changes,
    receiver_factory: Callable[..., Receiver], start: Callable[..., Dispatcher],
) -> None:
    port = unused_port()
    secret = add_helper(store, secrets, "h1", f"http://127.0.0.1:{port}/events")
    store.add("e1", "h1", event_body("e1"))
    first = start(next_delay=lambda attempts, **kw: 0.2)
    first.wake()
    changes.wait_row("e1", "h1", lambda r: r.attempts == 1)
    first.stop()

    rx = receiver_factory(port=port)  # the helper comes back on its port
    second = start()
    (got,) = rx.wait_for(1)
    assert got.body == event_body("e1")
    assert Webhook(secret).verify(got.body, got.headers)["id"] == "e1"
    assert changes.wait_row("e1", "h1", lambda r: r.status == "delivered").attempts >= 2
    assert second.wait_idle(TIMEOUT)
