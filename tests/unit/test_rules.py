"""The Sessions API rules R1–R11 (DESIGN.md section 2), one test or more each."""

from __future__ import annotations

import pytest

from sessionmgr.core import rules
from sessionmgr.core.model import Declaration, SiteRecord, parse_declaration
from sessionmgr.errors import Conflict, InvalidInput

SITE = "example.com"
NOW = 1_000_000.0


def declare(record: SiteRecord | None, body: dict, now: float = NOW) -> SiteRecord:
    return rules.apply_declaration(record, SITE, parse_declaration(body), now=now).record


def bear(status: str | None = None, cookie: str | None = None) -> dict:
    session: dict = {"email": "bear@example.com"}
    if status:
        session["status"] = status
    if cookie:
        session["bound_to"] = {"type": "cookie", "cookie_name": cookie}
    return session


def test_r1_an_array_means_the_site_supports_the_api() -> None:
    record = declare(None, {"sessions": [bear()]})
    assert record.supported
    assert record.to_json(now=NOW)["supported"] is True


def test_r2_status_defaults_to_active_and_email_is_the_identifier() -> None:
    record = declare(None, {"sessions": [bear()]})
    assert record.active == "bear@example.com"
    assert record.to_json(now=NOW)["sessions"][0]["status"] == "active"


def test_r2_bound_to_name_is_an_alias_of_cookie_name() -> None:
    parsed = parse_declaration(
        {"sessions": [{"email": "a", "bound_to": {"type": "cookie", "name": "SID"}}]}
    )
    assert parsed.sessions is not None
    assert parsed.sessions[0].bound_to is not None
    assert parsed.sessions[0].bound_to.cookie_name == "SID"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "sessions"),
        ({"sessions": "bear"}, "sessions"),
        ({"sessions": [1]}, "sessions[0]"),
        ({"sessions": [{}]}, "sessions[0].email"),
        ({"sessions": [{"email": ""}]}, "sessions[0].email"),
        ({"sessions": [{"email": "x" * 255}]}, "sessions[0].email"),
        ({"sessions": [{"email": 7}]}, "sessions[0].email"),
        ({"sessions": [{"email": "a\u0000b"}]}, "sessions[0].email"),
        ({"sessions": [{"email": "a\u0085b"}]}, "sessions[0].email"),
        ({"sessions": [{"email": "a", "status": "logged-in"}]}, "sessions[0].status"),
        ({"sessions": [{"email": "a", "status": None}]}, "sessions[0].status"),
        (
            {"sessions": [{"email": "a", "bound_to": {"type": "header", "cookie_name": "x"}}]},
            "sessions[0].bound_to.type",
        ),
        (
            {"sessions": [{"email": "a", "bound_to": {"type": "cookie"}}]},
            "sessions[0].bound_to.cookie_name",
        ),
        ({"sessions": [{"email": "a", "bound_to": "SID"}]}, "sessions[0].bound_to"),
        ({"sessions": [], "cookies": "SID"}, "cookies"),
        ({"sessions": [], "cookies": [""]}, "cookies[0]"),
        ({"sessions": [], "focused": "yes"}, "focused"),
        ({"sessions": [], "api": "fedcm"}, "api"),
        ({"sessions": [{"email": str(i)} for i in range(101)]}, "sessions"),
    ],
)
def test_r2_bad_declarations_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_declaration(body)
    assert caught.value.field == field
    assert caught.value.message.startswith(field + ":")


def test_r2_exactly_254_characters_is_allowed() -> None:
    parsed = parse_declaration({"sessions": [{"email": "x" * 254}]})
    assert parsed.sessions is not None and len(parsed.sessions[0].email) == 254


def test_r3_first_active_wins_the_rest_count_as_passive() -> None:
    record = declare(
        None, {"sessions": [{"email": "a", "status": "passive"}, {"email": "b"}, {"email": "c"}]}
    )
    assert record.active == "b"
    assert [s["status"] for s in record.to_json(now=NOW)["sessions"]] == [
        "passive",
        "active",
        "passive",
    ]


def test_r4_indicator_reads_login_with_nobody_active_and_the_id_otherwise() -> None:
    nobody = declare(None, {"sessions": [bear("passive")]})
    assert nobody.indicator == "login"
    empty = declare(None, {"sessions": []})
    assert empty.indicator == "login"
    someone = declare(None, {"sessions": [bear()]})
    assert someone.indicator == "bear@example.com"
    unsupported = declare(None, {"sessions": None})
    assert unsupported.indicator is None


def test_r5_undefined_with_the_bound_cookie_keeps_the_last_sessions() -> None:
    record = declare(None, {"sessions": [bear(cookie="SID")], "cookies": ["SID"]})
    held = declare(record, {"sessions": None, "cookies": ["SID", "other"]})
    assert held.active == "bear@example.com"
    assert held.source == "binding"
    assert held.binding is not None and held.binding.cookie_name == "SID"


def test_r5_undefined_without_the_cookie_expires_the_site_and_drops_the_binding() -> None:
    record = declare(None, {"sessions": [bear(cookie="SID")], "cookies": ["SID"]})
    gone = declare(record, {"sessions": None, "cookies": ["other"]})
    assert not gone.supported
    assert gone.indicator is None
    assert gone.binding is None
    assert gone.source == "none"
    # The binding is gone for good: the cookie coming back does not revive it.
    again = declare(gone, {"sessions": None, "cookies": ["SID"]})
    assert not again.supported


def test_r5_undefined_with_no_binding_at_all_is_not_supported() -> None:
    record = declare(None, {"sessions": [bear()]})
    assert not declare(record, {"sessions": None, "cookies": ["SID"]}).supported


def test_r6_empty_array_clears_the_binding_and_ignores_cookies() -> None:
    record = declare(None, {"sessions": [bear(cookie="SID")], "cookies": ["SID"]})
    cleared = declare(record, {"sessions": [], "cookies": ["SID"]})
    assert cleared.supported and cleared.indicator == "login"
    assert cleared.binding is None
    after = declare(cleared, {"sessions": None, "cookies": ["SID"]})
    assert not after.supported


def test_r7_a_binding_holds_only_for_the_host_that_declared_it() -> None:
    record = declare(None, {"sessions": [bear(cookie="SID")], "cookies": ["SID"]})
    other = rules.apply_declaration(
        None, "www.example.com", Declaration(None, frozenset({"SID"})), now=NOW
    ).record
    assert record.supported
    assert not other.supported


def test_binding_is_the_active_sessions_else_the_first_bound_one() -> None:
    record = declare(
        None,
        {
            "sessions": [
                {
                    "email": "a",
                    "status": "passive",
                    "bound_to": {"type": "cookie", "cookie_name": "A"},
                },
                {"email": "b", "bound_to": {"type": "cookie", "cookie_name": "B"}},
            ]
        },
    )
    assert record.binding is not None and record.binding.cookie_name == "B"
    passive_only = declare(
        None,
        {
            "sessions": [
                {"email": "a", "status": "passive", "bound_to": {"type": "cookie", "name": "A"}}
            ]
        },
    )
    assert passive_only.binding is not None and passive_only.binding.cookie_name == "A"
    replaced = declare(record, {"sessions": [{"email": "c"}]})
    assert replaced.binding is None


def test_r8_login_with_nobody_active_fires_login_without_an_id() -> None:
    record = declare(None, {"sessions": []})
    after, event = rules.request_login(record, None, persistent=False, event_id="e1", now=NOW)
    assert (event.type, event.account, event.previous) == ("login", None, None)
    assert after.pending == event


def test_r8_choosing_a_listed_account_fires_login_with_its_id() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    _, event = rules.request_login(
        record, "bear@example.com", persistent=False, event_id="e1", now=NOW
    )
    assert (event.account, event.previous) == ("bear@example.com", None)


def test_r8_switch_is_one_login_event_with_the_previous_id() -> None:
    record = declare(None, {"sessions": [{"email": "a"}, {"email": "b"}]})
    after, event = rules.request_login(record, "b", persistent=False, event_id="e1", now=NOW)
    assert (event.type, event.account, event.previous) == ("login", "b", "a")
    assert after.active == "a", "state changes only when the site redeclares (R10)"


@pytest.mark.parametrize(
    ("sessions", "account", "code"),
    [
        ([{"email": "a"}], None, "already_signed_in"),
        ([{"email": "a"}], "a", "already_active"),
        ([{"email": "a"}], "zed", "unknown_account"),
        (None, None, "not_supported"),
    ],
)
def test_r8_login_conflicts(sessions: list | None, account: str | None, code: str) -> None:
    record = declare(None, {"sessions": sessions})
    with pytest.raises(Conflict) as caught:
        rules.request_login(record, account, persistent=False, event_id="e1", now=NOW)
    assert caught.value.code == code


def test_r9_logout_fires_for_the_active_account_and_needs_one() -> None:
    record = declare(None, {"sessions": [bear()]})
    _, event = rules.request_logout(record, event_id="e1", now=NOW)
    assert (event.type, event.account, event.previous) == ("logout", "bear@example.com", None)
    with pytest.raises(Conflict):
        rules.request_logout(declare(None, {"sessions": [bear("passive")]}), event_id="e2", now=NOW)


def test_r10_pending_clears_on_the_next_declaration_whatever_it_says() -> None:
    record = declare(None, {"sessions": [{"email": "a"}, {"email": "b"}]})
    pending, event = rules.request_login(record, "b", persistent=False, event_id="e1", now=NOW)
    transition = rules.apply_declaration(
        pending,
        SITE,
        parse_declaration({"sessions": [{"email": "a"}, {"email": "b"}]}),
        now=NOW + 1,
    )
    assert transition.record.pending is None
    assert transition.resolved == event
    assert transition.changed


def test_r10_a_new_action_replaces_the_pending_one() -> None:
    record = declare(None, {"sessions": [{"email": "a"}, {"email": "b"}, {"email": "c"}]})
    first, _ = rules.request_login(record, "b", persistent=False, event_id="e1", now=NOW)
    second, event = rules.request_login(first, "c", persistent=False, event_id="e2", now=NOW)
    assert second.pending == event


def test_pending_times_out_with_a_message() -> None:
    record = declare(None, {"sessions": [{"email": "a"}, {"email": "b"}]})
    pending, _ = rules.request_login(record, "b", persistent=False, event_id="e1", now=NOW)
    assert rules.expire_pending(pending, now=NOW + 9.9, timeout=10) is None
    expired = rules.expire_pending(pending, now=NOW + 10, timeout=10)
    assert expired is not None and expired.pending is None
    assert expired.attention is not None and expired.attention.code == "no_response"
    assert "switch to b" in expired.attention.message and "example.com" in expired.attention.message


def test_r11_persistent_login_is_recorded_when_the_site_confirms() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    assert pending.persistent is None
    confirmed = declare(pending, {"sessions": [bear()]}, now=NOW + 1)
    assert confirmed.persistent is not None
    assert confirmed.persistent.account == "bear@example.com"
    assert confirmed.persistent.expires == NOW + 1 + rules.DEFAULT_PERSIST_SECONDS


def test_r11_an_unconfirmed_persistent_login_is_not_recorded() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    refused = declare(pending, {"sessions": [bear("passive")]}, now=NOW + 1)
    assert refused.persistent is None


def test_r11_persistent_login_expires() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    confirmed = declare(pending, {"sessions": [bear()]}, now=NOW)
    assert confirmed.persistent_at(NOW + rules.DEFAULT_PERSIST_SECONDS - 1) is not None
    assert confirmed.persistent_at(NOW + rules.DEFAULT_PERSIST_SECONDS) is None
    later = declare(confirmed, {"sessions": [bear()]}, now=NOW + rules.DEFAULT_PERSIST_SECONDS + 1)
    assert later.persistent is None
    assert later.to_json(now=NOW + rules.DEFAULT_PERSIST_SECONDS + 1)["persistent"] is None


def test_r11_a_confirmed_logout_ends_stay_signed_in_but_a_site_logout_does_not() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    confirmed = declare(pending, {"sessions": [bear()]}, now=NOW)
    # The site signs the person out on its own: persistent login is what brings them back.
    site_logout = declare(confirmed, {"sessions": [bear("passive")]}, now=NOW + 5)
    assert site_logout.persistent is not None
    # A logout asked for through sessionmgr ends it once the site confirms.
    back = declare(site_logout, {"sessions": [bear()]}, now=NOW + 6)
    logging_out, _ = rules.request_logout(back, event_id="e2", now=NOW + 7)
    done = declare(logging_out, {"sessions": [bear("passive")]}, now=NOW + 8)
    assert done.persistent is None


def test_cancel_persistent() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    confirmed = declare(pending, {"sessions": [bear()]}, now=NOW)
    assert rules.cancel_persistent(confirmed, now=NOW + 1).persistent is None
    plain = declare(None, {"sessions": [bear()]})
    assert rules.cancel_persistent(plain, now=NOW) is plain


def test_a_redeclaration_that_changes_nothing_is_not_a_change() -> None:
    body = {"sessions": [bear(cookie="SID")], "cookies": ["SID"]}
    record = declare(None, body)
    transition = rules.apply_declaration(record, SITE, parse_declaration(body), now=NOW + 5)
    assert not transition.changed
    assert transition.record.updated_at == record.updated_at


def test_duplicate_identifiers_keep_the_first() -> None:
    record = declare(None, {"sessions": [{"email": "a", "status": "passive"}, {"email": "a"}]})
    assert record.accounts() == ("a",)
    assert record.active is None


def test_r11_stay_signed_in_survives_a_login_page_declaring_first() -> None:
    record = declare(None, {"sessions": [bear("passive")]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    login_page = declare(pending, {"sessions": [bear("passive")]}, now=NOW + 1)
    assert login_page.pending is None and login_page.persistent is None
    signed_in = declare(login_page, {"sessions": [bear()]}, now=NOW + 60)
    assert signed_in.persistent is not None
    assert signed_in.persistent.account == "bear@example.com"
    assert signed_in.persist_intent is None


def test_r11_the_stay_signed_in_intent_expires_and_new_actions_drop_it() -> None:
    record = declare(None, {"sessions": [bear("passive"), {"email": "bob", "status": "passive"}]})
    pending, _ = rules.request_login(
        record, "bear@example.com", persistent=True, event_id="e1", now=NOW
    )
    both = [bear("passive"), {"email": "bob", "status": "passive"}]
    login_page = declare(pending, {"sessions": both}, now=NOW + 1)
    assert login_page.persist_intent is not None
    late = declare(login_page, {"sessions": [bear()]}, now=NOW + 2 + rules.PERSIST_INTENT_SECONDS)
    assert late.persistent is None
    other, _ = rules.request_login(login_page, "bob", persistent=False, event_id="e2", now=NOW + 2)
    assert other.persist_intent is None
    assert (
        declare(declare(other, {"sessions": []}, now=NOW + 3), {"sessions": [bear()]}).persistent
        is None
    )
