"""Signed identity assertions for persistent login (seed 001, DESIGN R11).

A site the user chose to "stay signed in" to gets, on a silent request, a
fresh assertion that says "this browser's user is <account> for <site>". Each
(site, account) pair has its own Ed25519 key pair, so two sites cannot link
one person through a shared key; the private key lives in the SecretStore.

Format (a site needs only the registered public key and any Ed25519 library)::

    <b64url(claims JSON, UTF-8)>.<b64url(Ed25519 signature over the first part's ASCII)>

``b64url`` is RFC 4648 URL-safe base64 without ``=`` padding, and must be the
canonical encoding. Claims (all required)::

    {"v": 1, "iss": "sessionmgr", "aud": <site key>, "sub": <account id>,
     "iat": <issued, Unix seconds>, "exp": <expires, Unix seconds>, "nonce": <str or null>}

A verifier checks the signature first, then ``v``, ``iss``, ``aud`` (the
site itself), ``iat`` (not beyond the allowed clock deviation in the
future), ``exp`` (not passed) and, when it asked for one, ``nonce``. The
public key is published as b64url of the raw 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import threading
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sessionmgr.security.secrets import SecretStore, SecretStoreError

ISSUER: Final = "sessionmgr"
VERSION: Final = 1
MAX_ASSERTION_LENGTH: Final = 8192
_CLAIM_KEYS: Final = frozenset({"v", "iss", "aud", "sub", "iat", "exp", "nonce"})
_SIGNATURE_BYTES: Final = 64
_KEY_BYTES: Final = 32

REASONS: Final = (
    "malformed", "bad_signature", "wrong_audience", "expired", "issued_in_future",
    "wrong_issuer", "nonce_mismatch",
)


class AssertionInvalid(Exception):
    """An assertion did not verify; ``reason`` is one of REASONS, for the verifier's answer."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"assertion rejected: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class VerifiedAssertion:
    email: str
    audience: str
    issuer: str
    issued: float
    expires: float
    nonce: str | None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict: URL-safe alphabet, no padding, canonical (no stray trailing bits)."""
    if not text or "=" in text or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if b64url_encode(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


class AssertionKeys:
    """The Ed25519 key pairs, one per (site, account), kept in a SecretStore."""

    def __init__(self, store: SecretStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<AssertionKeys in {self.store.description}>"

    @staticmethod
    def secret_name(site: str, account: str) -> str:
        if not site or ":" in site:
            # Site keys are host names; a colon would make the name ambiguous.
            raise ValueError("a site is a non-empty host name without ':'")
        if not account:
            raise ValueError("an account is a non-empty string")
        return f"assertion-key:{site}:{account}"

    def _private(self, site: str, account: str, *, create: bool) -> Ed25519PrivateKey | None:
        name = self.secret_name(site, account)
        with self._lock:
            raw = self.store.get(name)
            if raw is None:
                if not create:
                    return None
                key = Ed25519PrivateKey.generate()
                self.store.set(name, b64url_encode(key.private_bytes_raw()))
                return key
        try:
            return Ed25519PrivateKey.from_private_bytes(b64url_decode(raw))
        except (ValueError, binascii.Error):
            raise SecretStoreError(
                f"the assertion key {name!r} in {self.store.description} is unreadable; "
                "delete it (the site must register the new public key)"
            ) from None

    def _key(self, site: str, account: str) -> Ed25519PrivateKey:
        key = self._private(site, account, create=True)
        assert key is not None
        return key

    def public_key(self, site: str, account: str) -> str:
        """The public key a site registers, as b64url raw bytes; made on first use."""
        return b64url_encode(self._key(site, account).public_key().public_bytes_raw())

    def has_key(self, site: str, account: str) -> bool:
        return self._private(site, account, create=False) is not None

    def delete(self, site: str, account: str) -> None:
        with self._lock:
            self.store.delete(self.secret_name(site, account))

    def sign(self, site: str, account: str, payload: bytes) -> bytes:
        """Sign with the pair's private key, creating the pair if it does not exist yet."""
        return self._key(site, account).sign(payload)


def issue_assertion(
    keys: AssertionKeys,
    *,
    site: str,
    account: str,
    now: float,
    ttl: float = 300,
    nonce: str | None = None,
) -> str:
    if not (math.isfinite(now) and math.isfinite(ttl) and ttl > 0):
        raise ValueError("now and ttl must be finite, ttl positive")
    if not isinstance(site, str) or not isinstance(account, str):
        raise TypeError("site and account are strings")
    if nonce is not None and not isinstance(nonce, str):
        raise TypeError("a nonce is a string")
    claims = {
        "v": VERSION, "iss": ISSUER, "aud": site, "sub": account,
        "iat": now, "exp": now + ttl, "nonce": nonce,
    }
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True, allow_nan=False)
    first = b64url_encode(body.encode("utf-8"))
    signature = keys.sign(site, account, first.encode("ascii"))
    return f"{first}.{b64url_encode(signature)}"


def _split(assertion: object) -> tuple[str, dict[str, Any], bytes]:
    """The signed part, its claims and the signature; AssertionInvalid("malformed") if not."""
    if not isinstance(assertion, str) or len(assertion) > MAX_ASSERTION_LENGTH:
        raise AssertionInvalid("malformed", "not a string of sane length")
    first, dot, sig_text = assertion.partition(".")
    if not dot or "." in sig_text:
        raise AssertionInvalid("malformed", "expected two dot-separated parts")
    try:
        if not first.isascii() or not sig_text.isascii():
            raise ValueError("not ASCII")
        body = b64url_decode(first)
        signature = b64url_decode(sig_text)
        claims = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, binascii.Error, RecursionError):
        raise AssertionInvalid("malformed", "not base64url JSON") from None
    if len(signature) != _SIGNATURE_BYTES:
        raise AssertionInvalid("malformed", "the signature has the wrong length")
    if not _well_formed(claims):
        raise AssertionInvalid("malformed", "claims do not match version 1")
    return first, claims, signature


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _well_formed(claims: object) -> bool:
    return (
        isinstance(claims, dict)
        and claims.keys() == _CLAIM_KEYS
        and claims["v"] == VERSION
        and not isinstance(claims["v"], bool)
        and all(isinstance(claims[k], str) for k in ("iss", "aud", "sub"))
        and _number(claims["iat"])
        and _number(claims["exp"])
        and (claims["nonce"] is None or isinstance(claims["nonce"], str))
    )


def read_unverified(assertion: str) -> dict[str, Any]:
    """The claims, unchecked: only to find which (aud, sub) key to verify with."""
    return dict(_split(assertion)[1])


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def verify_assertion(
    assertion: str,
    *,
    audience: str,
    public_key: str,
    now: float,
    nonce: str | None = None,
    clock_deviation: float = 300,
) -> VerifiedAssertion:
    """Check an assertion with nothing but the registered public key; AssertionInvalid if bad.

    A malformed ``public_key`` is the caller's mistake and raises ValueError.
    """
    try:
        key = Ed25519PublicKey.from_public_bytes(b64url_decode(public_key))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError("public_key is not a base64url Ed25519 public key") from None
    first, claims, signature = _split(assertion)
    try:
        key.verify(signature, first.encode("ascii"))
    except InvalidSignature:
        raise AssertionInvalid("bad_signature") from None
    if not _same(claims["iss"], ISSUER):
        raise AssertionInvalid("wrong_issuer")
    if not _same(claims["aud"], audience):
        raise AssertionInvalid("wrong_audience")
    if claims["iat"] - now > clock_deviation:
        raise AssertionInvalid("issued_in_future")
    if now > claims["exp"]:
        raise AssertionInvalid("expired")
    if nonce is not None and (claims["nonce"] is None or not _same(claims["nonce"], nonce)):
        raise AssertionInvalid("nonce_mismatch")
    return VerifiedAssertion(
        email=claims["sub"], audience=claims["aud"], issuer=claims["iss"],
        issued=float(claims["iat"]), expires=float(claims["exp"]), nonce=claims["nonce"],
    )
