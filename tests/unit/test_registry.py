"""Pairing, helper tokens, renewal and revocation with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionmgr.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from sessionmgr.security.registry import (
    MAX_PENDING_PAIRINGS,
    PAIRING_TTL,
    HelperRegistry,
    check_events_url,
    check_origin,
    comparison_code,
)
from sessionmgr.security.secrets import MemorySecretStore
from sessionmgr.security.tokens import KeySet, Tokener
from sessionmgr.store.repository import Store

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(tmp_path: Path, clock: Clock) -> HelperRegistry:
    store = Store(tmp_path / "db.sqlite3")
    holder: dict[str, HelperRegistry] = {}
    tokener = Tokener(
        KeySet.generate(clock()),
        "api-token",
        clock=clock,
        last_revocation=lambda i: holder["r"].last_revocation(i),
    )
    holder["r"] = HelperRegistry(store, MemorySecretStore(), tokener, clock=clock)
    yield holder["r"]
    store.close()


def ask(
    registry: HelperRegistry, name: str = "Chromium", origin: str | None = None
) -> dict[str, str]:
    return registry.request_pairing(
        {"name": name, "events_url": "http://127.0.0.1:4000/events", "origin": origin}
    )


def approved(registry: HelperRegistry) -> dict[str, str]:
    ticket = ask(registry)
    registry.approve(ticket["id"])
    return registry.poll_pairing(ticket["id"], f"Bearer {ticket['poll_secret']}")


def test_comparison_code_is_six_digits_derived_from_the_request() -> None:
    code = comparison_code("id", "Chromium", None, "http://127.0.0.1:1/e")
    assert len(code) == 7 and code[3] == "-" and code.replace("-", "").isdigit()
    assert code == comparison_code("id", "Chromium", None, "http://127.0.0.1:1/e")
    assert code != comparison_code("id", "Firefox", None, "http://127.0.0.1:1/e")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:80/e",
        "https://127.0.0.1:4000/e",
        "http://127.0.0.2:4000/e",
        "http://localhost/e",
        "http://127.0.0.1:0/e",
        "javascript:alert(1)",
        "http://user:pw@127.0.0.1:4000/e",
        "http://127.0.0.1:99999/e",
        "",
        None,
    ],
)
def test_events_url_must_be_loopback_http_with_a_port(url: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_events_url(url)
    assert caught.value.field == "events_url"


@pytest.mark.parametrize("url", ["http://127.0.0.1:4000/events", "http://localhost:1/"])
def test_loopback_events_urls_are_accepted(url: str) -> None:
    assert check_events_url(url) == url


def test_origin_must_be_an_extension_origin() -> None:
    assert check_origin("chrome-extension://abcdefghijklmnopabcdefghijklmnop") is not None
    assert check_origin(None) is None
    for bad in ["https://evil.example", "chrome-extension://x/path", "null", 3]:
        with pytest.raises(InvalidInput):
            check_origin(bad)


def test_pairing_is_pending_then_approved_and_hands_secrets_out_once(
    registry: HelperRegistry,
) -> None:
    ticket = ask(registry)
    assert registry.poll_pairing(ticket["id"], f"Bearer {ticket['poll_secret']}") == {
        "status": "pending"
    }
    registry.approve(ticket["id"])
    first = registry.poll_pairing(ticket["id"], f"Bearer {ticket['poll_secret']}")
    assert (
        first["status"] == "approved"
        and first["token"]
        and first["webhook_secret"].startswith("whsec_")
    )
    second = registry.poll_pairing(ticket["id"], f"Bearer {ticket['poll_secret']}")
    assert second == {"status": "approved", "helper_id": first["helper_id"]}
    assert registry.webhook_secrets(first["helper_id"]) == [first["webhook_secret"]]
    principal = registry.authenticate(f"Bearer {first['token']}")
    assert principal.kind == "helper" and principal.helper_id == first["helper_id"]


def test_wrong_poll_secret_is_401_and_says_nothing(registry: HelperRegistry) -> None:
    ticket = ask(registry)
    for bad in [None, "", "Bearer nope", f"Basic {ticket['poll_secret']}"]:
        with pytest.raises(Unauthorized):
            registry.poll_pairing(ticket["id"], bad)
    with pytest.raises(Unauthorized):
        registry.poll_pairing("unknown", f"Bearer {ticket['poll_secret']}")


def test_at_most_five_pending_and_they_expire_after_two_minutes(
    registry: HelperRegistry, clock: Clock
) -> None:
    tickets = [ask(registry, f"helper {i}") for i in range(MAX_PENDING_PAIRINGS)]
    with pytest.raises(TooManyRequests):
        ask(registry, "one too many")
    clock.now += PAIRING_TTL
    assert registry.poll_pairing(tickets[0]["id"], f"Bearer {tickets[0]['poll_secret']}") == {
        "status": "expired"
    }
    with pytest.raises(Conflict, match="expired"):
        registry.approve(tickets[0]["id"])
    ask(registry, "room again")
    assert registry.list_pairings()[0]["status"] == "pending"


def test_reject(registry: HelperRegistry) -> None:
    ticket = ask(registry)
    registry.reject(ticket["id"])
    assert registry.poll_pairing(ticket["id"], f"Bearer {ticket['poll_secret']}") == {
        "status": "rejected"
    }
    with pytest.raises(NotFound):
        registry.reject("nope")


def test_revoked_helper_token_fails_at_once(registry: HelperRegistry) -> None:
    helper = approved(registry)
    registry.revoke(helper["helper_id"])
    with pytest.raises(Unauthorized):
        registry.authenticate(f"Bearer {helper['token']}")
    assert registry.webhook_secrets(helper["helper_id"]) == []


def test_revoke_all(registry: HelperRegistry) -> None:
    helpers = [approved(registry), approved(registry)]
    assert sorted(registry.revoke_all()) == sorted(h["helper_id"] for h in helpers)
    for helper in helpers:
        with pytest.raises(Unauthorized):
            registry.authenticate(f"Bearer {helper['token']}")
    assert registry.active_helpers() == []


def test_owner_token_renewal_after_the_interval_and_expiry(
    registry: HelperRegistry, clock: Clock
) -> None:
    token = registry.issue_owner_token()
    assert registry.authenticate(f"Bearer {token.token}").renewal is None
    clock.now += 7 * DAY + 1
    principal = registry.authenticate(f"Bearer {token.token}")
    assert principal.renewal is not None
    headers = registry.tokener.renewal_headers(principal.renewal)
    assert headers["X-Auth-Renewal"] == principal.renewal.token
    clock.now += 7 * DAY
    with pytest.raises(Unauthorized, match="token_expired"):
        registry.authenticate(f"Bearer {token.token}")
    assert registry.authenticate(f"Bearer {principal.renewal.token}").kind == "owner"


def test_a_new_owner_token_revokes_the_old_one(registry: HelperRegistry, clock: Clock) -> None:
    old = registry.issue_owner_token()
    clock.now += 1
    new = registry.issue_owner_token()
    with pytest.raises(Unauthorized, match="token_revoked"):
        registry.authenticate(f"Bearer {old.token}")
    assert registry.authenticate(f"Bearer {new.token}").kind == "owner"


def test_expected_identity_mismatch_is_a_conflict(registry: HelperRegistry) -> None:
    token = registry.issue_owner_token()
    with pytest.raises(Conflict):
        registry.authenticate(f"Bearer {token.token}", expected="helper:someone")
    assert registry.authenticate(f"Bearer {token.token}", expected="owner").kind == "owner"


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Token abc", "Bearer not-a-token"]
)
def test_bad_authorization_headers_are_401(registry: HelperRegistry, header: str | None) -> None:
    with pytest.raises(Unauthorized):
        registry.authenticate(header)


def test_a_helper_can_update_only_its_own_events_url(registry: HelperRegistry) -> None:
    one, two = approved(registry), approved(registry)
    principal = registry.authenticate(f"Bearer {one['token']}")
    registry.update_events_url(principal, one["helper_id"], {"events_url": "http://127.0.0.1:5/e"})
    assert {h["id"]: h["events_url"] for h in registry.list_helpers()}[
        one["helper_id"]
    ] == "http://127.0.0.1:5/e"
    with pytest.raises(Forbidden):
        registry.update_events_url(
            principal, two["helper_id"], {"events_url": "http://127.0.0.1:5/e"}
        )
    with pytest.raises(InvalidInput):
        registry.update_events_url(
            principal, one["helper_id"], {"events_url": "http://example.com:80/"}
        )
