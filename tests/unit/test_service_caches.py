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
