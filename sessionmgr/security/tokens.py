"""Signed bearer tokens in the manner of node's "authen", built on itsdangerous.

A token is ``<kid>.<itsdangerous URL-safe payload>.<signature>``. The payload
(compact JSON) carries the key id, the identity, the issue time and whether
the token is a renewal. The signature is always HMAC-SHA256 with the key that
``kid`` names; the kid only picks a key from our own key set, the algorithm is
fixed here, so a token can never choose how it is checked.

Each purpose ("api-token", "pairing", "assertion", "webhook") is its own
itsdangerous salt, so a token made for one never verifies as another.

A token may carry a ``twin`` id (a short opaque string): two tokens of two
purposes issued with one twin id belong together, as authen's auth token and
its *limited* CSRF twin do (see :mod:`sessionmgr.site`). Tokens without one
keep the original four-field payload.

Checks, in order: shape, key, signature, payload, issued in the future
(beyond ``clock_deviation``), expired (``now - issued > max_age``), revoked
(issued at or before the identity's last revocation, or a renewal issued
within ``trust_delay`` after it), then the expected identity. Every failure is
a TokenError subclass with a snake_case ``code`` the API maps to 401/409.
Token strings and key material never appear in reprs or messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import itsdangerous
from itsdangerous.encoding import base64_decode, base64_encode

from sessionmgr.security.secrets import SecretStore, SecretStoreError

KEY_BYTES: Final = 32
MAX_TOKEN_LENGTH: Final = 4096
MAX_IDENTITY_LENGTH: Final = 512
_KEYSET_VERSION: Final = 1
_KID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
# The whole token: a kid, a dot, then itsdangerous' URL-safe payload and signature.
_TOKEN_RE: Final = re.compile(r"([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_.-]+)")
_PURPOSE_RE: Final = re.compile(r"[a-z][a-z0-9-]{0,63}")
_TWIN_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

HEADER_RENEWAL: Final = "X-Auth-Renewal"
HEADER_RENEWAL_ISSUED: Final = "X-Auth-Renewal-Issued"
HEADER_RENEWAL_MAX_AGE: Final = "X-Auth-Renewal-Max-Age"


class TokenError(Exception):
    """A token did not verify. ``code`` is stable and safe to show to clients."""

    code: str = "token_error"
    default_message = "the token is not valid"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class MalformedToken(TokenError):
    code = "malformed_token"
    default_message = "the token is not a sessionmgr token"


class BadSignature(TokenError):
    code = "bad_signature"
    default_message = "the token's signature does not match"


class UnknownKey(TokenError):
    code = "unknown_key"
    default_message = "the token was signed with a key that is unknown or retired"


class TokenExpired(TokenError):
    code = "token_expired"
    default_message = "the token has expired"


class IssuedInFuture(TokenError):
    code = "issued_in_future"
    default_message = "the token claims to be issued in the future"


class TokenRevoked(TokenError):
    code = "token_revoked"
    default_message = "the token has been revoked"


class UnexpectedIdentity(TokenError):
    code = "unexpected_identity"
    default_message = "the token belongs to another identity than expected"


class _KeyFields(NamedTuple):
    kid: str
    secret: bytes
    created: float


class SigningKey(_KeyFields):
    """One HMAC key; ``kid`` names it inside tokens, ``secret`` never leaves the process."""

    __slots__ = ()

    def __new__(cls, kid: str, secret: bytes, created: float) -> SigningKey:
        if not _KID_RE.fullmatch(kid):
            raise ValueError("a kid is 1-32 characters of [A-Za-z0-9_-]")
        if len(secret) < KEY_BYTES:
            raise ValueError(f"a signing key needs at least {KEY_BYTES} bytes")
        return super().__new__(cls, kid, secret, created)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, created={self.created!r})"

    @classmethod
    def generate(cls, now: float, taken: set[str] | None = None) -> SigningKey:
        taken = taken or set()
        while True:
            kid = secrets.token_urlsafe(6)
            if kid not in taken:
                return cls(kid, secrets.token_bytes(KEY_BYTES), now)


class KeySet:
    """The signing keys of one token family: sign with the newest, verify with any kept.

    Rotation adds a new newest key; old tokens keep verifying until their key
    is retired (removed). Changes are in memory until ``save``. Readers see
    an immutable tuple, so verifying needs no lock.
    """

    def __init__(self, keys: list[SigningKey] | tuple[SigningKey, ...]) -> None:
        if not keys:
            raise ValueError("a key set needs at least one key")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise ValueError("key ids must be unique")
        self._keys: tuple[SigningKey, ...] = tuple(keys)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeySet(kids={self.kids!r})"

    @classmethod
    def generate(cls, now: float) -> KeySet:
        return cls([SigningKey.generate(now)])

    @classmethod
    def load(cls, store: SecretStore, name: str, *, now: float) -> KeySet:
        """The key set saved under ``name``; a new one is made and saved if there is none."""
        raw = store.get(name)
        if raw is None:
            keys = cls.generate(now)
            keys.save(store, name)
            return keys
        try:
            return cls._from_json(raw)
        except (ValueError, TypeError, KeyError, binascii.Error) as e:
            raise SecretStoreError(
                f"the signing keys {name!r} in {store.description} are unreadable "
                f"({type(e).__name__}); delete them to start over (all tokens they signed "
                "stop working)"
            ) from None

    @classmethod
    def _from_json(cls, raw: str) -> KeySet:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("v") != _KEYSET_VERSION:
            raise ValueError("unknown key set version")
        keys = []
        for item in doc["keys"]:
            created = item["created"]
            if not isinstance(created, (int, float)) or isinstance(created, bool):
                raise TypeError("created must be a number")
            secret = base64.urlsafe_b64decode(item["secret"].encode("ascii"))
            keys.append(SigningKey(str(item["kid"]), secret, float(created)))
        return cls(keys)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": _KEYSET_VERSION,
                "keys": [
                    {
                        "kid": k.kid,
                        "secret": base64.urlsafe_b64encode(k.secret).decode("ascii"),
                        "created": k.created,
                    }
                    for k in self._keys
                ],
            },
            separators=(",", ":"),
        )

    def save(self, store: SecretStore, name: str) -> None:
        store.set(name, self.to_json())

    @property
    def newest(self) -> SigningKey:
        return self._keys[-1]

    @property
    def kids(self) -> list[str]:
        """Key ids, oldest first."""
        return [k.kid for k in self._keys]

    def get(self, kid: str) -> SigningKey | None:
        for key in self._keys:
            if key.kid == kid:
                return key
        return None

    def rotate(self, now: float) -> SigningKey:
        """Add a new key that signs from now on; the old ones still verify."""
        with self._lock:
            key = SigningKey.generate(now, set(self.kids))
            self._keys = (*self._keys, key)
            return key

    def retire(self, kid: str) -> None:
        """Forget a key: tokens it signed fail with UnknownKey. Retiring a missing kid is fine."""
        with self._lock:
            if kid == self.newest.kid:
                raise ValueError("cannot retire the newest key; rotate first")
            self._keys = tuple(k for k in self._keys if k.kid != kid)


class TokenData(NamedTuple):
    """What a verified token says."""

    identity: str
    issued: float
    is_renewal: bool
    kid: str
    twin: str | None = None


class IssuedToken(NamedTuple):
    """A freshly signed token; ``max_age`` tells the holder how long it lives."""

    token: str
    issued: float
    max_age: float

    def __repr__(self) -> str:
        return f"IssuedToken(issued={self.issued!r}, max_age={self.max_age!r})"


def _finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _canonical_signature(body: str) -> bool:
    _, dot, sig = body.rpartition(".")
    if not dot:
        return False
    try:
        raw = base64_decode(sig)
    except itsdangerous.BadData:
        return False
    return base64_encode(raw).decode("ascii") == sig


_VERIFIED_CACHE_SIZE = 1024


class Tokener:
    """Issues, verifies and renews tokens of one purpose."""

    def __init__(
        self,
        keys: KeySet,
        purpose: str,
        *,
        max_age: float = 14 * 86400,
        renewal_interval: float = 7 * 86400,
        clock_deviation: float = 300,
        trust_delay: float = 300,
        clock: Callable[[], float] = time.time,
        last_revocation: Callable[[str], float] = lambda identity: 0.0,
    ) -> None:
        if not _PURPOSE_RE.fullmatch(purpose):
            raise ValueError("a purpose is a short lower-case name like 'api-token'")
        for name, value in (
            ("max_age", max_age),
            ("renewal_interval", renewal_interval),
            ("clock_deviation", clock_deviation),
            ("trust_delay", trust_delay),
        ):
            if not _finite_number(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0")
        self.keys = keys
        self.purpose = purpose
        self.max_age = float(max_age)
        self.renewal_interval = float(renewal_interval)
        self.clock_deviation = float(clock_deviation)
        self.trust_delay = float(trust_delay)
        self.clock = clock
        self.last_revocation = last_revocation
        # Exact token strings whose signature and shape were already checked. Only the
        # cryptographic work is remembered: time, revocation and identity are checked
        # on every call, and a retired key is noticed through the kid.
        self._verified: dict[str, TokenData] = {}

    def __repr__(self) -> str:
        return f"Tokener(purpose={self.purpose!r}, keys={self.keys!r})"

    def _serializer(self, key: SigningKey) -> itsdangerous.URLSafeSerializer:
        # One fixed algorithm: HMAC-SHA256 with a key derived per purpose (the salt).
        return itsdangerous.URLSafeSerializer(
            key.secret,
            salt=f"sessionmgr.{self.purpose}",
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"},
        )

    def issue(
        self, identity: str, *, renewal: bool = False, twin: str | None = None
    ) -> IssuedToken:
        if not isinstance(identity, str) or not identity or len(identity) > MAX_IDENTITY_LENGTH:
            raise ValueError(f"an identity is a non-empty string of at most "
                             f"{MAX_IDENTITY_LENGTH} characters")
        if twin is not None and not (isinstance(twin, str) and _TWIN_RE.fullmatch(twin)):
            raise ValueError("a twin id is 1-64 characters of [A-Za-z0-9_-]")
        issued = float(self.clock())
        key = self.keys.newest
        payload: dict[str, Any] = {"k": key.kid, "i": identity, "t": issued, "r": bool(renewal)}
        if twin is not None:
            payload["w"] = twin
        body = self._serializer(key).dumps(payload)
        return IssuedToken(f"{key.kid}.{body}", issued, self.max_age)

    def verify(self, token: str, *, expected_identity: str | None = None) -> TokenData:
        """The token's data if it is valid now; otherwise a TokenError, whatever the input."""
        data = self._verified.get(token) if isinstance(token, str) else None
        if data is None or self.keys.get(data.kid) is None:
            data = self._authentic(token)
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = data
        now = float(self.clock())
        if data.issued - now > self.clock_deviation:
            raise IssuedInFuture()
        if now - data.issued > self.max_age:
            raise TokenExpired()
        last = float(self.last_revocation(data.identity))
        if data.issued <= last:
            raise TokenRevoked()
        if data.is_renewal and data.issued <= last + self.trust_delay:
            raise TokenRevoked("a renewal issued right after a revocation is not trusted")
        if expected_identity is not None and not (
            isinstance(expected_identity, str)
            and hmac.compare_digest(
                data.identity.encode("utf-8"), expected_identity.encode("utf-8", "surrogatepass")
            )
        ):
            raise UnexpectedIdentity()
        return data

    def _authentic(self, token: object) -> TokenData:
        """Shape, key and signature; says nothing yet about time or revocation."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise MalformedToken()
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise MalformedToken()
        kid, body = match.groups()
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKey()
        if not _canonical_signature(body):
            # base64 ignores a final character's spare bits; without this, several
            # strings would carry one signature and a tampered token could verify.
            raise BadSignature()
        try:
            payload: Any = self._serializer(key).loads(body)
        except itsdangerous.BadPayload:
            raise MalformedToken() from None
        except itsdangerous.BadSignature:
            raise BadSignature() from None
        except itsdangerous.BadData:
            raise MalformedToken() from None
        if not (
            isinstance(payload, dict)
            and payload.keys() in ({"k", "i", "t", "r"}, {"k", "i", "t", "r", "w"})
            and (
                "w" not in payload
                or (isinstance(payload["w"], str) and _TWIN_RE.fullmatch(payload["w"]))
            )
            and payload["k"] == kid
            and isinstance(payload["i"], str)
            and 0 < len(payload["i"]) <= MAX_IDENTITY_LENGTH
            and _finite_number(payload["t"])
            and isinstance(payload["r"], bool)
        ):
            # Signed by us but not in our shape: never trust it.
            raise MalformedToken()
        return TokenData(payload["i"], float(payload["t"]), payload["r"], kid, payload.get("w"))

    def needs_renewal(self, data: TokenData) -> bool:
        """True once a token is older than the renewal interval (it is still valid)."""
        return float(self.clock()) - data.issued > self.renewal_interval

    def renew(self, data: TokenData) -> IssuedToken:
        """A renewal for the same identity, keeping the token's twin id."""
        return self.issue(data.identity, renewal=True, twin=data.twin)

    def renewal_headers(self, issued: IssuedToken) -> dict[str, str]:
        """Response headers that hand over a renewal: issued in Unix seconds, max age in seconds."""
        return {
            HEADER_RENEWAL: issued.token,
            HEADER_RENEWAL_ISSUED: f"{issued.issued:.3f}",
            HEADER_RENEWAL_MAX_AGE: str(math.floor(issued.max_age)),
        }
