"""Persistent-login assertions: round trip, the documented format, and every way to be wrong."""

from __future__ import annotations

import base64
import json
import string

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sessionmgr.security.assertions import (
    REASONS,
    AssertionInvalid,
    AssertionKeys,
    VerifiedAssertion,
    b64url_encode,
    issue_assertion,
    read_unverified,
    verify_assertion,
)
from sessionmgr.security.secrets import MemorySecretStore, SecretStoreError

NOW = 1_700_000_000.0
SITE = "example.com"
ACCOUNT = "alice@example.com"

# One store for the hypothesis tests: key generation is not what they exercise.
KEYS = AssertionKeys(MemorySecretStore())
PUBLIC = KEYS.public_key(SITE, ACCOUNT)
ASSERTION = issue_assertion(KEYS, site=SITE, account=ACCOUNT, now=NOW, ttl=300, nonce="n-1")


def reason_of(assertion: str, **kw: object) -> str:
    args: dict[str, object] = {"audience": SITE, "public_key": PUBLIC, "now": NOW + 1, **kw}
    with pytest.raises(AssertionInvalid) as info:
        verify_assertion(assertion, **args)  # type: ignore[arg-type]
    assert info.value.reason in REASONS
    return info.value.reason


def signed(claims: object, site: str = SITE, account: str = ACCOUNT) -> str:
    """An assertion over arbitrary claims, signed with the real key (for claim checks)."""
    first = b64url_encode(json.dumps(claims).encode())
    return f"{first}.{b64url_encode(KEYS.sign(site, account, first.encode()))}"


def claims(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"v": 1, "iss": "sessionmgr", "aud": SITE, "sub": ACCOUNT,
                               "iat": NOW, "exp": NOW + 300, "nonce": None}
    return {**base, **over}


def test_round_trip() -> None:
    got = verify_assertion(ASSERTION, audience=SITE, public_key=PUBLIC, now=NOW + 1, nonce="n-1")
    assert got == VerifiedAssertion(
        email=ACCOUNT, audience=SITE, issuer="sessionmgr", issued=NOW, expires=NOW + 300,
        nonce="n-1",
    )
    # A caller that asked for no nonce accepts any.
    assert verify_assertion(ASSERTION, audience=SITE, public_key=PUBLIC, now=NOW).nonce == "n-1"


def test_a_site_verifies_with_only_the_public_key_and_the_documented_format() -> None:
    """An independent verifier, as a site would write it from the module docstring."""

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    first, sig = ASSERTION.split(".")
    key = Ed25519PublicKey.from_public_bytes(unb64(PUBLIC))
    key.verify(unb64(sig), first.encode("ascii"))
    body = json.loads(unb64(first))
    assert body == {"v": 1, "iss": "sessionmgr", "aud": SITE, "sub": ACCOUNT, "iat": NOW,
                    "exp": NOW + 300, "nonce": "n-1"}
    assert len(unb64(PUBLIC)) == 32
    with pytest.raises(InvalidSignature):
        key.verify(unb64(sig), (first + "x").encode("ascii"))


def test_read_unverified_returns_claims() -> None:
    assert read_unverified(ASSERTION)["aud"] == SITE
    assert read_unverified(ASSERTION)["sub"] == ACCOUNT


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "a.b.c", ".", ASSERTION + "=", ASSERTION.replace(".", ".."), "é." + "A" * 86,
     ASSERTION.split(".")[0] + "." + "A" * 10, None, b"x.y"],
)
def test_malformed(bad: object) -> None:
    with pytest.raises(AssertionInvalid) as info:
        read_unverified(bad)  # type: ignore[arg-type]
    assert info.value.reason == "malformed"
    assert reason_of(bad) == "malformed"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad_claims",
    [claims(v=2), claims(v=True), claims(extra=1), {"v": 1}, [1, 2], claims(iat="now"),
     claims(exp=None), claims(nonce=5), claims(sub=None), claims(iat=float("nan"))],
    ids=["v2", "v-bool", "extra", "missing", "list", "iat-str", "exp-null", "nonce-int",
         "sub-null", "iat-nan"],
)
def test_signed_but_not_version_1_is_malformed(bad_claims: object) -> None:
    assert reason_of(signed(bad_claims)) == "malformed"


def test_spare_bits_of_the_signature_do_not_make_a_second_valid_assertion() -> None:
    # 64 bytes take 86 base64 characters; the last one has 4 bits base64 decoders ignore.
    alphabet = string.ascii_letters + string.digits + "-_"
    for c in alphabet.replace(ASSERTION[-1], ""):
        assert reason_of(ASSERTION[:-1] + c) in ("malformed", "bad_signature")


def test_wrong_issuer() -> None:
    assert reason_of(signed(claims(iss="persona.org"))) == "wrong_issuer"


def test_issued_in_future_and_expiry_boundaries() -> None:
    a = issue_assertion(KEYS, site=SITE, account=ACCOUNT, now=NOW, ttl=60)
    verify_assertion(a, audience=SITE, public_key=PUBLIC, now=NOW - 300)
    assert reason_of(a, now=NOW - 300.5) == "issued_in_future"
    assert reason_of(a, now=NOW - 10, clock_deviation=5) == "issued_in_future"
    verify_assertion(a, audience=SITE, public_key=PUBLIC, now=NOW + 60)
    assert reason_of(a, now=NOW + 60.001) == "expired"


def test_nonce_required_but_absent() -> None:
    a = issue_assertion(KEYS, site=SITE, account=ACCOUNT, now=NOW)
    assert reason_of(a, nonce="n") == "nonce_mismatch"


def test_keys_are_per_site_and_account_and_persist() -> None:
    store = MemorySecretStore()
    keys = AssertionKeys(store)
    a = keys.public_key("a.example", "me")
    assert keys.public_key("a.example", "me") == a
    assert AssertionKeys(store).public_key("a.example", "me") == a  # from the store
    others = {keys.public_key("b.example", "me"), keys.public_key("a.example", "you")}
    assert a not in others and len(others) == 2
    assert store.get("assertion-key:a.example:me") is not None
    # An assertion for one pair does not verify with another pair's key.
    assertion = issue_assertion(keys, site="a.example", account="me", now=NOW)
    for other in others:
        with pytest.raises(AssertionInvalid) as info:
            verify_assertion(assertion, audience="a.example", public_key=other, now=NOW)
        assert info.value.reason == "bad_signature"


def test_delete_forgets_the_key() -> None:
    store = MemorySecretStore()
    keys = AssertionKeys(store)
    old_public = keys.public_key(SITE, ACCOUNT)
    old = issue_assertion(keys, site=SITE, account=ACCOUNT, now=NOW)
    assert keys.has_key(SITE, ACCOUNT)
    keys.delete(SITE, ACCOUNT)
    assert not keys.has_key(SITE, ACCOUNT)
    assert store.get(f"assertion-key:{SITE}:{ACCOUNT}") is None
    keys.delete(SITE, ACCOUNT)  # again: fine
    new_public = keys.public_key(SITE, ACCOUNT)
    assert new_public != old_public
    with pytest.raises(AssertionInvalid):
        verify_assertion(old, audience=SITE, public_key=new_public, now=NOW)


def test_private_keys_do_not_leak() -> None:
    store = MemorySecretStore()
    keys = AssertionKeys(store)
    keys.public_key(SITE, ACCOUNT)
    private = store.get(f"assertion-key:{SITE}:{ACCOUNT}")
    assert private is not None
    assert private not in repr(keys)
    assert private not in issue_assertion(keys, site=SITE, account=ACCOUNT, now=NOW)


def test_corrupt_stored_key_is_a_store_error() -> None:
    store = MemorySecretStore()
    store.set(f"assertion-key:{SITE}:{ACCOUNT}", "not-a-key")
    with pytest.raises(SecretStoreError, match="unreadable"):
        AssertionKeys(store).public_key(SITE, ACCOUNT)


@pytest.mark.parametrize(("site", "account"), [("", "me"), ("a:b", "c"), ("a.example", "")])
def test_ambiguous_names_are_refused(site: str, account: str) -> None:
    with pytest.raises(ValueError):
        AssertionKeys(MemorySecretStore()).public_key(site, account)


@pytest.mark.parametrize("key", ["", "abc", b64url_encode(b"\x00" * 31), "!" * 43])
def test_a_bad_public_key_is_the_callers_error(key: str) -> None:
    with pytest.raises(ValueError, match="public_key"):
        verify_assertion(ASSERTION, audience=SITE, public_key=key, now=NOW)


# --- properties ---

_ALPHABET = string.ascii_letters + string.digits + "-_.=+/ é\x00"


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_tampered_assertions_never_verify(data: st.DataObject) -> None:
    i = data.draw(st.integers(0, 1 << 16), label="position") % len(ASSERTION)
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="how")
    if how == "delete":
        bad = ASSERTION[:i] + ASSERTION[i + 1:]
    else:
        c = data.draw(st.sampled_from(_ALPHABET.replace(ASSERTION[i], "")), label="char")
        bad = ASSERTION[:i] + c + ASSERTION[i + (how == "replace"):]
    assert bad != ASSERTION
    reason_of(bad, nonce="n-1")


@settings(max_examples=300, deadline=None)
@given(part=st.sampled_from([0, 1]), bit=st.integers(0, 10_000))
def test_any_flipped_bit_in_the_decoded_parts_never_verifies(part: int, bit: int) -> None:
    pieces = ASSERTION.split(".")
    raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)))
    bit %= len(raw) * 8
    raw[bit // 8] ^= 1 << (bit % 8)
    pieces[part] = b64url_encode(bytes(raw))
    assert reason_of(".".join(pieces), nonce="n-1") in ("bad_signature", "malformed")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1).filter(lambda s: s != SITE))
def test_wrong_audience_never_verifies(audience: str) -> None:
    assert reason_of(ASSERTION, audience=audience) == "wrong_audience"


@settings(max_examples=200, deadline=None)
@given(ttl=st.floats(0.001, 10 * 86400), late=st.floats(1e-3, 1e9))
def test_expired_never_verifies(ttl: float, late: float) -> None:
    a = issue_assertion(KEYS, site=SITE, account=ACCOUNT, now=NOW, ttl=ttl)
    exp = read_unverified(a)["exp"]
    assume(exp + late > exp)
    assert reason_of(a, now=exp + late) == "expired"


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["site", "account", "other-store"]))
def test_wrong_key_never_verifies(which: str) -> None:
    other_keys = AssertionKeys(MemorySecretStore()) if which == "other-store" else KEYS
    site = "other.example" if which == "site" else SITE
    account = "bob" if which == "account" else ACCOUNT
    assert reason_of(ASSERTION, public_key=other_keys.public_key(site, account)) == "bad_signature"


@settings(max_examples=200, deadline=None)
@given(issued_with=st.one_of(st.none(), st.text()), asked=st.text())
def test_nonce_mismatch_never_verifies(issued_with: str | None, asked: str) -> None:
    assume(issued_with != asked)
    a = issue_assertion(KEYS, site=SITE, account=ACCOUNT, now=NOW, nonce=issued_with)
    assert reason_of(a, nonce=asked) == "nonce_mismatch"
    got = verify_assertion(a, audience=SITE, public_key=PUBLIC, now=NOW, nonce=issued_with)
    assert got.nonce == issued_with


@settings(max_examples=100, deadline=None)
@given(site=st.from_regex(r"[a-z0-9.-]{1,40}", fullmatch=True),
       account=st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=60),
       nonce=st.one_of(st.none(), st.text()))
def test_round_trip_any_identity(site: str, account: str, nonce: str | None) -> None:
    keys = AssertionKeys(MemorySecretStore())
    a = issue_assertion(keys, site=site, account=account, now=NOW, nonce=nonce)
    got = verify_assertion(a, audience=site, public_key=keys.public_key(site, account), now=NOW,
                           nonce=nonce)
    assert (got.email, got.audience, got.nonce) == (account, site, nonce)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")),
                 st.from_regex(r"[A-Za-z0-9_-]{0,120}\.[A-Za-z0-9_-]{0,100}", fullmatch=True)))
def test_fuzz_only_assertion_invalid(text: str) -> None:
    with pytest.raises(AssertionInvalid):
        read_unverified(text)
    with pytest.raises(AssertionInvalid):
        verify_assertion(text, audience=SITE, public_key=PUBLIC, now=NOW)
