"""Property-based tests of the site state machine and the site-key normaliser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sessionmgr.core import rules
from sessionmgr.core.model import SiteRecord, parse_declaration
from sessionmgr.core.sitekey import display_site, normalize_site
from sessionmgr.errors import Conflict, InvalidInput

SITE = "example.com"
ACCOUNTS = ["a@x", "b@x", "c@x"]
COOKIES = ["SID", "other"]

binding = st.one_of(
    st.none(), st.builds(lambda c: {"type": "cookie", "cookie_name": c}, st.sampled_from(COOKIES))
)
session = st.fixed_dictionaries(
    {"email": st.sampled_from(ACCOUNTS)},
    optional={"status": st.sampled_from(["active", "passive"]), "bound_to": binding},
)
declaration = st.fixed_dictionaries(
    {
        "sessions": st.one_of(st.none(), st.lists(session, max_size=4)),
        "cookies": st.lists(st.sampled_from(COOKIES), unique=True),
    }
)


class SiteMachine(RuleBasedStateMachine):
    """Any interleaving of declarations, user actions and time keeps the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.record: SiteRecord | None = None
        self.now = 1000.0
        self.last_body: dict[str, Any] | None = None

    @rule(body=declaration)
    def declare(self, body: dict[str, Any]) -> None:
        before = self.record
        transition = rules.apply_declaration(before, SITE, parse_declaration(body), now=self.now)
        self.record = transition.record
        self.last_body = body
        assert self.record.pending is None  # R10
        if body["sessions"] == []:
            assert self.record.binding is None  # R6
        if body["sessions"] is None:
            live = (
                before is not None
                and before.binding is not None
                and before.sessions is not None
                and before.binding.cookie_name in body["cookies"]
            )
            assert self.record.supported == live  # R5
            if live:
                assert before is not None and self.record.sessions == before.sessions

    @precondition(lambda self: self.record is not None)
    @rule(account=st.one_of(st.none(), st.sampled_from(ACCOUNTS)), persistent=st.booleans())
    def login(self, account: str | None, persistent: bool) -> None:
        assert self.record is not None
        before = self.record
        try:
            after, event = rules.request_login(
                before, account, persistent=persistent, event_id=f"e{self.now}", now=self.now
            )
        except Conflict:
            assert (
                not before.supported
                or (account is None and before.active is not None)
                or (
                    account is not None
                    and (account == before.active or account not in before.accounts())
                )
            )
            return
        assert event.previous == (before.active if account is not None else None)
        assert after.pending == event
        assert after.sessions == before.sessions  # R10: nothing changes until the site answers

    @precondition(lambda self: self.record is not None)
    @rule()
    def logout(self) -> None:
        assert self.record is not None
        try:
            self.record, event = rules.request_logout(
                self.record, event_id=f"l{self.now}", now=self.now
            )
        except Conflict:
            assert self.record.active is None
            return
        assert event.account is not None and event.previous is None

    @rule(seconds=st.floats(min_value=0, max_value=40 * 86400))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        if self.record is not None:
            expired = rules.expire_pending(self.record, now=self.now)
            if expired is not None:
                self.record = expired

    @invariant()
    def at_most_one_active(self) -> None:
        if self.record is not None:
            statuses = [status for _, status in self.record.effective]
            assert statuses.count("active") <= 1

    @invariant()
    def indicator_agrees_with_sessions(self) -> None:
        if self.record is None:
            return
        view = self.record.to_json(now=self.now)
        active = [s["email"] for s in view["sessions"] if s["status"] == "active"]
        if not view["supported"]:
            assert view["indicator"] is None and view["sessions"] == []
        elif active:
            assert view["indicator"] == active[0] == view["active"]
        else:
            assert view["indicator"] == "login" and view["active"] is None

    @invariant()
    def binding_belongs_to_a_declared_session(self) -> None:
        if self.record is not None and self.record.binding is not None:
            assert self.record.sessions
            assert self.record.binding in [s.bound_to for s in self.record.sessions]

    @invariant()
    def persistent_account_was_declared(self) -> None:
        if self.record is not None and self.record.persistent is not None:
            assert self.record.persistent.account in ACCOUNTS


TestSiteMachine = SiteMachine.TestCase
TestSiteMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@given(st.lists(declaration, min_size=1, max_size=5))
def test_redeclaring_the_same_thing_is_not_a_change(bodies: list[dict[str, Any]]) -> None:
    record = None
    for body in bodies:
        record = rules.apply_declaration(record, SITE, parse_declaration(body), now=1.0).record
    last = parse_declaration(bodies[-1])
    if last.sessions is not None:
        assert not rules.apply_declaration(record, SITE, last, now=2.0).changed


@given(st.text(max_size=300))
def test_normaliser_accepts_or_rejects_cleanly_and_is_idempotent(raw: str) -> None:
    try:
        key = normalize_site(raw)
    except InvalidInput as exc:
        assert exc.field == "site"
        return
    assert key == normalize_site(key)
    assert key == key.lower() and key.isascii() and not key.endswith(".")
    assert ":" not in key and "/" not in key and len(key) <= 253


hostname = st.from_regex(r"\A[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\.[a-zA-Z]{2,8}){1,3}\Z")


@given(hostname)
def test_normaliser_keeps_real_host_names_case_insensitively(name: str) -> None:
    assert normalize_site(name) == name.lower()
    assert normalize_site(name.upper() + ".") == name.lower()


@given(st.from_type(object).filter(lambda v: not isinstance(v, str)))
def test_normaliser_rejects_non_strings(value: object) -> None:
    try:
        normalize_site(value)
    except InvalidInput:
        return
    raise AssertionError("a non-string site key was accepted")


@pytest.mark.parametrize(
    ("key", "shown"),
    [("example.com", "example.com"), ("xn--bcher-kva.example", "bücher.example"),
     ("xn--invalid-.example", "xn--invalid-.example"), ("127.0.0.1", "127.0.0.1")],
)
def test_display_site_decodes_punycode_and_leaves_the_rest(key: str, shown: str) -> None:
    assert display_site(key) == shown
