"""Password hashing helpers (authen's hash/verify) on argon2-cffi, and kit settings."""

from __future__ import annotations

import pytest

from sessionmgr.site import SessionKit, passwords, site_key


def test_hash_and_verify() -> None:
    hashed = passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hashed != passwords.hash("correct horse")  # salted
    assert passwords.verify("correct horse", hashed)
    assert not passwords.verify("correct horsf", hashed)
    assert not passwords.verify("correct horse", "not a hash")
    assert not passwords.verify("x" * 5000, hashed)
    assert not passwords.needs_rehash(hashed)


@pytest.mark.parametrize("bad", ["", "x" * 5000])
def test_hash_refuses_empty_or_huge(bad: str) -> None:
    with pytest.raises(ValueError):
        passwords.hash(bad)


@pytest.mark.parametrize(("audience", "key"), [
    ("localhost:5000", "localhost"), ("https://Shop.Example.:8443/", "shop.example"),
    ("127.0.0.1", "127.0.0.1"), ("bücher.example", "xn--bcher-kva.example"),
])
def test_site_key_of_an_audience(audience: str, key: str) -> None:
    assert site_key(audience) == key


@pytest.mark.parametrize("bad", ["", "http://", "exa mple.com"])
def test_audience_is_mandatory_and_a_host(bad: str) -> None:
    with pytest.raises(ValueError):
        SessionKit(audience=bad)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SessionKit(audience="a.example", session_cookie="a b")
    with pytest.raises(ValueError):
        SessionKit(audience="a.example", session_cookie="x", twin_cookie="x")
    with pytest.raises(ValueError):
        SessionKit(audience="a.example", prefix="a/b")
