"""Silent-login assertions as the kit checks them: whatever is tampered with,
replayed, meant for another audience or expired never signs anyone in."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionmgr.security.assertions import AssertionKeys, issue_assertion
from sessionmgr.security.secrets import MemorySecretStore
from sessionmgr.site import LoginRefused, SessionKit
from tests.site.site_helpers import T0, Clock, claims, sign_claims

SITE = "shop.example"
ALICE = "alice@example.com"
KEYS = AssertionKeys(MemorySecretStore())  # Ed25519 pairs: made once, reused by every example


def make_kit(clock: Clock) -> SessionKit:
    kit = SessionKit(audience=f"https://{SITE}:8443", clock=clock, nonce_ttl=600)
    kit.register_key(ALICE, KEYS.public_key(SITE, ALICE))
    return kit


def fresh(kit: SessionKit, clock: Clock) -> str:
    nonce, _ = kit.new_nonce()
    return issue_assertion(KEYS, site=SITE, account=ALICE, now=clock.now, nonce=nonce)


def test_a_good_assertion_verifies_once() -> None:
    clock = Clock()
    kit = make_kit(clock)
    assert kit.site == SITE
    assertion = fresh(kit, clock)
    identity = kit.verify_silent(assertion)
    assert (identity.email, identity.issuer) == (ALICE, "sessionmgr")
    with pytest.raises(LoginRefused) as info:
        kit.verify_silent(assertion)
    assert info.value.code == "nonce_unknown_or_used"


B64 = string.ascii_letters + string.digits + "-_."


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_tampered_assertions_never_verify_nor_burn_the_nonce(data: st.DataObject) -> None:
    clock = Clock()
    kit = make_kit(clock)
    assertion = fresh(kit, clock)
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
    i = data.draw(st.integers(0, 1 << 16)) % len(assertion)  # replayable whatever the length
    if kind == "replace":
        c = data.draw(st.sampled_from(B64).filter(lambda c: c != assertion[i]))
        tampered = assertion[:i] + c + assertion[i + 1:]
    elif kind == "insert":
        tampered = assertion[:i] + data.draw(st.sampled_from(B64)) + assertion[i:]
    elif kind == "delete":
        tampered = assertion[:i] + assertion[i + 1:]
    else:
        tampered = assertion[:i]
    assert tampered != assertion
    with pytest.raises(LoginRefused):
        kit.verify_silent(tampered)
    assert kit.verify_silent(assertion).email == ALICE  # the real one still works, once


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 5))
def test_replays_never_verify(times: int) -> None:
    clock = Clock()
    kit = make_kit(clock)
    assertion = fresh(kit, clock)
    kit.verify_silent(assertion)
    for _ in range(times):
        clock.now += 1
        with pytest.raises(LoginRefused) as info:
            kit.verify_silent(assertion)
        assert info.value.code == "nonce_unknown_or_used"


hosts = st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z]{2,6}){1,2}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(aud=st.one_of(hosts, st.text(max_size=30)))
def test_other_audiences_never_verify(aud: str) -> None:
    if aud == SITE:
        return
    clock = Clock()
    kit = make_kit(clock)
    nonce, _ = kit.new_nonce()
    # alice's real key for this site, claims for another audience
    assertion = sign_claims(KEYS, SITE, ALICE, claims(aud, ALICE, clock.now, nonce))
    with pytest.raises(LoginRefused) as info:
        kit.verify_silent(assertion)
    assert info.value.code == "wrong_audience"
    # and the key pair of another site does not sign for this one
    if not re.fullmatch(r"[a-z0-9.]+", aud):
        return
    other = issue_assertion(KEYS, site=aud, account=ALICE, now=clock.now, nonce=nonce)
    with pytest.raises(LoginRefused):
        kit.verify_silent(other)


@settings(max_examples=150, deadline=None)
@given(ttl=st.floats(1, 3600), late=st.floats(0.001, 10 * 86400))
def test_expired_assertions_never_verify(ttl: float, late: float) -> None:
    clock = Clock()
    kit = make_kit(clock)
    nonce, _ = kit.new_nonce()
    assertion = issue_assertion(KEYS, site=SITE, account=ALICE, now=T0, ttl=ttl, nonce=nonce)
    clock.now = T0 + ttl + late
    if clock.now <= T0 + ttl:  # float rounding: not actually later
        return
    with pytest.raises(LoginRefused) as info:
        kit.verify_silent(assertion)
    assert info.value.code in ("expired", "nonce_unknown_or_used")


@settings(max_examples=100, deadline=None)
@given(nonce=st.one_of(st.none(), st.text(min_size=1, max_size=64)))
def test_nonces_the_kit_did_not_issue_never_verify(nonce: str | None) -> None:
    clock = Clock()
    kit = make_kit(clock)
    kit.new_nonce()
    assertion = issue_assertion(KEYS, site=SITE, account=ALICE, now=clock.now, nonce=nonce)
    with pytest.raises(LoginRefused) as info:
        kit.verify_silent(assertion)
    assert info.value.code in ("nonce_missing", "nonce_unknown_or_used")


@given(garbage=st.one_of(st.text(max_size=200), st.integers(), st.none(), st.binary()))
def test_garbage_is_refused_not_an_error(garbage: object) -> None:
    kit = make_kit(Clock())
    with pytest.raises(LoginRefused):
        kit.verify_silent(garbage)


def test_an_assertion_for_another_account_needs_that_accounts_key() -> None:
    clock = Clock()
    kit = make_kit(clock)
    nonce, _ = kit.new_nonce()
    # Signed with alice's key but claiming bob: bob has no key; give him one, still refused.
    forged = sign_claims(KEYS, SITE, ALICE, claims(SITE, "bob@example.com", clock.now, nonce))
    with pytest.raises(LoginRefused) as info:
        kit.verify_silent(forged)
    assert info.value.code == "unknown_key"
    kit.register_key("bob@example.com", KEYS.public_key(SITE, "bob@example.com"))
    with pytest.raises(LoginRefused) as info:
        kit.verify_silent(forged)
    assert info.value.code == "bad_signature"
