"""The service's shortcuts (cached answers, skipped redeclarations) never go stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessionmgr.core.model import parse_declaration
from sessionmgr.service import SessionService
from sessionmgr.store.repository import Store

BODY = {"sessions": [{"email": "a", "status": "passive"}, {"email": "b", "status": "passive"}]}


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(tmp_path: Path, clock: Clock) -> SessionService:
    store = Store(tmp_path / "db.sqlite3")
    yield SessionService(store, clock=clock, pending_timeout=10, persist_seconds=100)
    store.close()


def encoded(service: SessionService, site: str = "example.com") -> dict:
    raw = service.get_site_encoded(site)
    assert raw is not None
    return json.loads(raw)


def test_encoded_answers_match_the_plain_ones(service: SessionService) -> None:
    service.declare("example.com", BODY)
    service.declare("other.example", {"sessions": [], "focused": True})
    assert encoded(service) == service.get_site("example.com")
    assert json.loads(service.list_sites_encoded()) == {"sites": service.list_sites()}


def test_encoded_answer_follows_state_focus_and_forgetting(service: SessionService) -> None:
    service.declare("example.com", BODY)
    assert encoded(service)["active"] is None
    service.declare("example.com", {"sessions": [{"email": "a"}, {"email": "b"}]})
    assert encoded(service)["active"] == "a"
    assert encoded(service)["focused"] is False
    service.focus("example.com")
    assert encoded(service)["focused"] is True
    service.login("example.com", "b")
    assert encoded(service)["pending"]["account"] == "b"
    service.forget_site("example.com")
    assert service.get_site_encoded("example.com") is None


def test_encoded_answer_drops_an_expired_stay_signed_in(
    service: SessionService, clock: Clock
) -> None:
    service.declare("example.com", BODY)
    service.login("example.com", "a", persistent=True)
    service.declare("example.com", {"sessions": [{"email": "a"}]})
    assert encoded(service)["persistent"]["id"] == "a"
    clock.now += 101
    assert encoded(service)["persistent"] is None


def test_a_repeated_declaration_still_answers_a_pending_action(service: SessionService) -> None:
    declaration = parse_declaration(
        {"sessions": [{"email": "a"}, {"email": "b", "status": "passive"}]}
    )
    service.declare("example.com", declaration)
    service.declare("example.com", declaration)  # the remembered, unchanged case
    event = service.login("example.com", "b")
    state = service.declare("example.com", declaration)  # same bytes again: still the answer
    assert state["pending"] is None
    assert service.list_events()[0]["id"] == event["id"]
    assert service.list_events()[0]["outcome"] == "confirmed"


def test_a_repeated_declaration_still_clears_attention(
    service: SessionService, clock: Clock
) -> None:
    declaration = parse_declaration({"sessions": [{"email": "a"}]})
    service.declare("example.com", declaration)
    service.logout("example.com")
    clock.now += 11
    service.expire_pending()
    assert encoded(service)["attention"]["code"] == "no_response"
    assert service.declare("example.com", declaration)["attention"] is None


def test_a_repeated_declaration_expires_a_stay_signed_in(
    service: SessionService, clock: Clock
) -> None:
    declaration = parse_declaration({"sessions": [{"email": "a"}]})
    service.declare("example.com", BODY)
    service.login("example.com", "a", persistent=True)
    service.declare("example.com", declaration)
    service.declare("example.com", declaration)
    assert service.record("example.com").persistent is not None
    clock.now += 101
    service.declare("example.com", declaration)
    assert service.record("example.com").persistent is None


def test_an_unchanged_redeclaration_keeps_the_record_object(service: SessionService) -> None:
    service.declare("example.com", BODY)
    record = service.record("example.com")
    service.declare("example.com", dict(BODY))
    assert service.record("example.com") is record


# -- the records in use: sites beyond ``cached_sites`` live only in the store --------


def small(service: SessionService, size: int = 2) -> SessionService:
    service.cached_sites = size
    return service


def signed_in(email: str) -> dict:
    return {"sessions": [{"email": email}]}


def test_only_the_sites_in_use_are_kept_and_the_others_read_back_the_same(
    service: SessionService,
) -> None:
    small(service)
    for i in range(5):
        service.declare(f"s{i}.example", signed_in(f"u{i}"))
    assert list(service._sites) == ["s3.example", "s4.example"]
    assert set(service._encoded) <= {"s3.example", "s4.example"}
    assert set(service._last_applied) == {"s3.example", "s4.example"}
    assert service.get_site("s0.example")["active"] == "u0"  # from the store, now cached
    assert list(service._sites) == ["s4.example", "s0.example"]
    assert [s["site"] for s in service.list_sites()] == [f"s{i}.example" for i in range(5)]
    assert json.loads(service.list_sites_encoded()) == {"sites": service.list_sites()}
    assert len(service._sites) == 2 and len(service._encoded) <= 2  # a scan keeps nothing
    assert service.site_count() == 5


def test_a_forgotten_sites_redeclaration_is_still_unchanged_and_writes_nothing(
    service: SessionService,
) -> None:
    small(service, 1)
    service.store.add_helper(helper_id="h1", name="browser", origin=None,
                             events_url="http://127.0.0.1:1/events", code="c", now=1.0)
    service.declare("a.example", signed_in("ann"), helper_id="h1")
    service.declare("b.example", signed_in("bob"), helper_id="h1")  # a.example leaves
    writes: list[str] = []
    service.store.db._conn.set_trace_callback(writes.append)
    record = service.record("a.example")
    service.declare("a.example", signed_in("ann"), helper_id="h1")
    service.store.db._conn.set_trace_callback(None)
    assert service.record("a.example") is record
    assert not [sql for sql in writes if sql.split()[0] in ("INSERT", "UPDATE", "BEGIN")]
    assert service.helpers_for_site("a.example") == {"h1"}


def test_a_pending_action_times_out_after_its_site_left_memory(
    service: SessionService, clock: Clock
) -> None:
    small(service, 1)
    service.declare("a.example", signed_in("ann"))
    service.logout("a.example")
    service.declare("b.example", signed_in("bob"))
    assert "a.example" not in service._sites and "a.example" in service._pending
    clock.now += 11
    changes = service.expire_pending()
    assert changes[0][:2] == ("site", "a.example")
    assert service.get_site("a.example")["pending"] is None
    assert not service._pending


def test_a_pending_action_left_by_the_last_run_is_known_at_start(
    tmp_path: Path, clock: Clock
) -> None:
    store = Store(tmp_path / "again.sqlite3")
    try:
        first = SessionService(store, clock=clock)
        first.declare("a.example", signed_in("ann"))
        first.declare("b.example", signed_in("bob"))
        first.logout("a.example")
        second = SessionService(store, clock=clock)
        assert second._pending == {"a.example": clock.now} and not second._sites
    finally:
        store.close()


def test_log_out_of_all_and_the_tray_summary_cover_sites_not_in_memory(
    service: SessionService,
) -> None:
    small(service)
    for i in range(4):
        service.declare(f"s{i}.example", signed_in(f"u{i}"))
    service.declare("none.example", {"sessions": []})
    first, count, undelivered = service.tray_summary(3, ("undelivered",))
    assert [r.site for r in first] == ["s0.example", "s1.example", "s2.example"]
    assert (count, undelivered) == (4, 0)
    assert [s["site"] for s in service.signed_in()] == [f"s{i}.example" for i in range(4)]
    events = service.logout_all()
    assert sorted(e["site"] for e in events) == [f"s{i}.example" for i in range(4)]
    assert all(service.get_site(f"s{i}.example")["pending"] for i in range(4))
    assert set(service._pending) == {f"s{i}.example" for i in range(4)}


def test_a_site_change_says_what_the_site_was_before(service: SessionService) -> None:
    seen: list = []
    service.subscribe(seen.append)
    service.declare("a.example", signed_in("ann"))
    service.declare("a.example", {"sessions": []})
    sites = [c for c in seen if c.kind == "site"]
    assert sites[0].before is None
    assert sites[1].before.active == "ann"


def test_the_list_of_every_site_sends_stored_answers_only_while_they_hold(
    service: SessionService, clock: Clock
) -> None:
    """Stored answers are made unfocused and hold until a "stay signed in" in them
    expires; the focused site, a lapsed answer and a site stored without one (as a
    schema-3 database leaves none) are made from the state."""
    from sessionmgr.core.model import Session, SiteRecord
    from sessionmgr.store.repository import Changes

    small(service, 1)
    service.declare("a.example", BODY)
    service.login("a.example", "a", persistent=True)
    service.declare("a.example", {"sessions": [{"email": "a"}]})
    service.declare("b.example", signed_in("bob"), )
    service.store.commit(Changes(sites=[SiteRecord("c.example", (Session("cy"),),
                                                   updated_at=clock.now)]))
    service.focus("b.example")
    with service.store.db.read() as conn:
        stored = dict(conn.execute("SELECT site, answer IS NOT NULL FROM sites").fetchall())
    assert stored == {"a.example": 1, "b.example": 1, "c.example": 0}

    def listed() -> list[dict]:
        return json.loads(service.list_sites_encoded())["sites"]  # type: ignore[no-any-return]

    assert listed() == service.list_sites()
    assert [s["focused"] for s in listed()] == [False, True, False]
    assert listed()[0]["persistent"]["id"] == "a"
    clock.now += 101
    assert listed()[0]["persistent"] is None
    assert listed() == service.list_sites()
