"""Who may call the daemon: the owner, and browser helpers the user approved.

Pairing: a helper asks (name, events URL, extension origin), the user compares
a short code shown on both sides and approves; the helper's poll then returns
its token and webhook secret exactly once. Pending requests live only in
memory: they expire after two minutes and a restart simply asks again.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from sessionmgr.core.ids import random_id
from sessionmgr.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from sessionmgr.events.webhooks import new_webhook_secret
from sessionmgr.security.secrets import SecretStore
from sessionmgr.security.tokens import IssuedToken, TokenData, Tokener, TokenError
from sessionmgr.store.repository import Store

log = logging.getLogger("sessionmgr.security")

PAIRING_TTL = 120.0
MAX_PENDING_PAIRINGS = 5
OWNER = "owner"
_MAX_NAME = 100
_EXTENSION_ORIGIN = re.compile(r"(chrome-extension|moz-extension)://[A-Za-z0-9._-]{1,128}")


class Principal(NamedTuple):
    """The authenticated caller of one request."""

    kind: Literal["owner", "helper"]
    helper_id: str | None = None
    token: TokenData | None = None
    renewal: IssuedToken | None = None


class _Pairing:
    """One pairing request, from ask to approval (or rejection, or expiry). ``handoff``
    holds the new helper's token and webhook secret until its poll takes them, once."""

    __slots__ = ("code", "created_at", "events_url", "expires_at", "handoff", "helper_id",
                 "id", "name", "origin", "poll_secret_hash", "status")

    def __init__(self, *, id: str, name: str, origin: str | None, events_url: str, code: str,
                 poll_secret_hash: bytes, created_at: float, expires_at: float) -> None:
        self.id = id
        self.name = name
        self.origin = origin
        self.events_url = events_url
        self.code = code
        self.poll_secret_hash = poll_secret_hash
        self.created_at = created_at
        self.expires_at = expires_at
        self.status = "pending"
        self.helper_id: str | None = None
        self.handoff: dict[str, str] | None = None

    def public(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "origin": self.origin,
            "code": self.code,
            "status": self.current_status(now),
            "expires_at": self.expires_at,
        }

    def current_status(self, now: float) -> str:
        if self.status == "pending" and now >= self.expires_at:
            return "expired"
        return self.status


def comparison_code(pairing_id: str, name: str, origin: str | None, events_url: str) -> str:
    """Six digits both sides can show; derived from the request, not secret."""
    digest = hashlib.sha256(
        "\x1f".join([pairing_id, name, origin or "", events_url]).encode()
    ).digest()
    number = int.from_bytes(digest[:8], "big") % 1_000_000
    return f"{number // 1000:03d}-{number % 1000:03d}"


def check_events_url(value: object, field: str = "events_url") -> str:
    """Events go only to loopback HTTP: never off the machine, never redirected."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "must be an http://127.0.0.1:PORT/... URL")
    if len(value) > 2048:
        raise InvalidInput(field, "is longer than 2048 characters")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidInput(field, f"{value[:80]!r} is not a valid URL") from None
    if parts.scheme != "http":
        raise InvalidInput(
            field, f"must use http:// on loopback, got {parts.scheme or 'no'} scheme"
        )
    host = parts.hostname or ""
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.IPv4Address(host) == ipaddress.IPv4Address("127.0.0.1")
        except ValueError:
            loopback = False
    if not loopback or parts.username or parts.password:
        raise InvalidInput(field, f"must point at 127.0.0.1 or localhost, got host {host!r}")
    if port is None or port == 0:
        raise InvalidInput(field, "must name a port (http://127.0.0.1:PORT/...)")
    if parts.fragment:
        raise InvalidInput(field, "must not have a #fragment")
    return value


def check_origin(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("origin", "must be an extension origin string or null")
    if not _EXTENSION_ORIGIN.fullmatch(value):  # exactly what a browser sends as Origin
        raise InvalidInput(
            "origin", "must be an extension origin (chrome-extension://ID or moz-extension://UUID)"
        )
    return value


def _check_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name", "must be a non-empty string naming the browser helper")
    if len(value) > _MAX_NAME or not value.isprintable():
        raise InvalidInput("name", f"must be printable and at most {_MAX_NAME} characters")
    return value


class HelperRegistry:
    """Pairing, helper tokens, the owner token, revocation and webhook secrets."""

    def __init__(
        self,
        store: Store,
        secret_store: SecretStore,
        tokener: Tokener,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str, str], None] | None = None,
    ):
        self.store = store
        self.secrets = secret_store
        self.tokener = tokener
        self.clock = clock
        self._on_change = on_change or (lambda kind, key: None)
        self._lock = threading.RLock()
        self._pairings: dict[str, _Pairing] = {}
        self._helpers: dict[str, dict[str, Any]] = {h["id"]: h for h in store.list_helpers()}
        self._last_seen: dict[str, float] = {}
        self._webhook_secrets: dict[str, list[str]] = {}
        self._revoked: dict[str, float] = {}

    # -- revocation (consulted by the tokener) ----------------------------------

    def _revocation(self, key: str) -> float:
        if key not in self._revoked:
            self._revoked[key] = float(self.store.get_meta(f"revoked:{key}") or 0.0)
        return self._revoked[key]

    def _revoke(self, key: str, when: float) -> None:
        self.store.set_meta(f"revoked:{key}", repr(when))
        self._revoked[key] = when

    def last_revocation(self, identity: str) -> float:
        """Tokens of ``identity`` issued at or before this are revoked (authen's model)."""
        everyone = self._revocation("*") if identity != OWNER else 0.0
        return max(self._revocation(identity), everyone)

    # -- the owner token -----------------------------------------------------------

    def issue_owner_token(self) -> IssuedToken:
        """A fresh owner token for endpoint.json; earlier runs' tokens stop working."""
        token = self.tokener.issue(OWNER)
        self._revoke(OWNER, token.issued - 1e-3)
        return token

    # -- authentication ---------------------------------------------------------------

    def authenticate(self, authorization: str | None, *, expected: str | None = None) -> Principal:
        """Bearer token → principal; raises Unauthorized (401) or Conflict (409)."""
        if not authorization:
            raise Unauthorized(
                "this endpoint needs Authorization: Bearer <token>", code="missing_token"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'", code="bad_authorization")
        try:
            data = self.tokener.verify(token.strip(), expected_identity=expected)
        except TokenError as exc:
            if exc.code == "unexpected_identity":
                raise Conflict(
                    "the token belongs to another identity than X-Auth-Expected says",
                    code="unexpected_identity",
                ) from None
            raise Unauthorized(f"the token was refused ({exc.code})", code=exc.code) from None
        renewal = self.tokener.renew(data) if self.tokener.needs_renewal(data) else None
        if data.identity == OWNER:
            return Principal("owner", token=data, renewal=renewal)
        if data.identity.startswith("helper:"):
            helper_id = data.identity.removeprefix("helper:")
            with self._lock:
                helper = self._helpers.get(helper_id)
                if helper is None or helper["status"] != "active":
                    raise Unauthorized("this helper was revoked or removed", code="token_revoked")
                self._last_seen[helper_id] = self.clock()
            return Principal("helper", helper_id=helper_id, token=data, renewal=renewal)
        raise Unauthorized("the token is not an API token", code="bad_token")

    # -- pairing ------------------------------------------------------------------------

    def request_pairing(self, body: dict[str, Any]) -> dict[str, str]:
        name = _check_name(body.get("name"))
        events_url = check_events_url(body.get("events_url"))
        origin = check_origin(body.get("origin"))
        now = self.clock()
        with self._lock:
            self._drop_stale(now)
            pending = [p for p in self._pairings.values() if p.current_status(now) == "pending"]
            if len(pending) >= MAX_PENDING_PAIRINGS:
                raise TooManyRequests(
                    f"{len(pending)} pairing requests are already waiting for approval;"
                    " approve or reject them, or wait two minutes",
                    code="too_many_pairings",
                )
            pairing_id = random_id()
            poll_secret = secrets.token_urlsafe(32)
            pairing = _Pairing(
                id=pairing_id,
                name=name,
                origin=origin,
                events_url=events_url,
                code=comparison_code(pairing_id, name, origin, events_url),
                poll_secret_hash=hashlib.sha256(poll_secret.encode()).digest(),
                created_at=now,
                expires_at=now + PAIRING_TTL,
            )
            self._pairings[pairing_id] = pairing
        log.info("pairing requested by %r (%s), code %s", name, origin or "no origin", pairing.code)
        self._on_change("pairing", pairing_id)
        return {"id": pairing_id, "code": pairing.code, "poll_secret": poll_secret}

    def poll_pairing(self, pairing_id: str, authorization: str | None) -> dict[str, Any]:
        with self._lock:
            pairing = self._pairings.get(pairing_id)
            presented = (authorization or "").partition(" ")
            secret = presented[2].strip() if presented[0].lower() == "bearer" else ""
            expected = pairing.poll_secret_hash if pairing else hashlib.sha256(b"\0").digest()
            if (
                not hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), expected)
                or not pairing
            ):
                raise Unauthorized("unknown pairing or wrong poll secret", code="bad_poll_secret")
            status = pairing.current_status(self.clock())
            answer: dict[str, Any] = {"status": status}
            if status == "approved":
                answer["helper_id"] = pairing.helper_id
                if pairing.handoff is not None:
                    answer.update(pairing.handoff)
                    pairing.handoff = None
            return answer

    def list_pairings(self) -> list[dict[str, Any]]:
        now = self.clock()
        with self._lock:
            self._drop_stale(now)
            items = [p.public(now) for p in self._pairings.values()]
        return sorted(items, key=lambda p: (p["status"] != "pending", -p["expires_at"]))

    def _pending(self, pairing_id: str) -> _Pairing:
        pairing = self._pairings.get(pairing_id)
        if pairing is None:
            raise NotFound(f"no pairing request {pairing_id}", code="unknown_pairing")
        status = pairing.current_status(self.clock())
        if status != "pending":
            raise Conflict(f"pairing request {pairing_id} is {status}", code=f"pairing_{status}")
        return pairing

    def approve(self, pairing_id: str) -> dict[str, Any]:
        with self._lock:
            pairing = self._pending(pairing_id)
            helper_id = random_id()
            webhook_secret = new_webhook_secret()
            self.secrets.set(f"webhook-secret:{helper_id}", webhook_secret)
            self.store.add_helper(
                helper_id=helper_id,
                name=pairing.name,
                origin=pairing.origin,
                events_url=pairing.events_url,
                code=pairing.code,
                now=self.clock(),
            )
            token = self.tokener.issue(f"helper:{helper_id}")
            pairing.status, pairing.helper_id = "approved", helper_id
            pairing.handoff = {"token": token.token, "webhook_secret": webhook_secret}
            self._helpers = {h["id"]: h for h in self.store.list_helpers()}
            self._webhook_secrets[helper_id] = [webhook_secret]
        log.info("pairing %s approved: helper %s (%r)", pairing.code, helper_id, pairing.name)
        self._on_change("pairing", pairing_id)
        self._on_change("helper", helper_id)
        return {"id": pairing_id, "status": "approved", "helper_id": helper_id}

    def reject(self, pairing_id: str) -> dict[str, Any]:
        with self._lock:
            pairing = self._pending(pairing_id)
            pairing.status = "rejected"
        log.info("pairing %s rejected", pairing.code)
        self._on_change("pairing", pairing_id)
        return {"id": pairing_id, "status": "rejected"}

    def _drop_stale(self, now: float) -> None:
        """Forget requests long past: the poller has had ample time to hear the answer."""
        for key in [k for k, p in self._pairings.items() if now - p.expires_at > 600]:
            del self._pairings[key]

    # -- helpers ---------------------------------------------------------------------------

    def list_helpers(self) -> list[dict[str, Any]]:
        with self._lock:
            result = []
            for helper in self._helpers.values():
                item = {k: v for k, v in helper.items()}
                item["last_seen"] = self._last_seen.get(helper["id"], helper["last_seen"])
                result.append(item)
            return result

    def helper_names(self) -> dict[str, str]:
        with self._lock:
            return {h["id"]: h["name"] for h in self._helpers.values()}

    def active_helpers(self) -> list[str]:
        with self._lock:
            return [h["id"] for h in self._helpers.values() if h["status"] == "active"]

    def paired_origins(self) -> set[str]:
        with self._lock:
            return {
                h["origin"]
                for h in self._helpers.values()
                if h["status"] == "active" and h["origin"]
            }

    def revoke(self, helper_id: str) -> None:
        with self._lock:
            if helper_id not in self._helpers:
                raise NotFound(f"no helper {helper_id}", code="unknown_helper")
            self.store.set_helper_status([helper_id], "revoked", "revoked by the user")
            self._revoke(f"helper:{helper_id}", self.clock())
            self._helpers = {h["id"]: h for h in self.store.list_helpers()}
        self.secrets.delete(f"webhook-secret:{helper_id}")
        self._webhook_secrets.pop(helper_id, None)
        log.info("helper %s revoked", helper_id)
        self._on_change("helper", helper_id)

    def revoke_all(self) -> list[str]:
        ids = self.active_helpers()
        with self._lock:
            self.store.set_helper_status(ids, "revoked", "revoked by the user")
            self._revoke("*", self.clock())
            self._helpers = {h["id"]: h for h in self.store.list_helpers()}
        for helper_id in ids:
            self.secrets.delete(f"webhook-secret:{helper_id}")
            self._webhook_secrets.pop(helper_id, None)
            self._on_change("helper", helper_id)
        return ids

    def helper_gone(self, helper_id: str) -> None:
        """The dispatcher saw 410: reload so its token stops working too."""
        with self._lock:
            self._helpers = {h["id"]: h for h in self.store.list_helpers()}
        self._on_change("helper", helper_id)

    def update_events_url(
        self, principal: Principal, helper_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if principal.kind != "helper" or principal.helper_id != helper_id:
            raise Forbidden("a helper can only update itself", code="not_this_helper")
        url = check_events_url(body.get("events_url"))
        with self._lock:
            self.store.set_events_url(helper_id, url)
            self._helpers[helper_id]["events_url"] = url
        self._on_change("helper", helper_id)
        return {"id": helper_id, "events_url": url}

    def webhook_secrets(self, helper_id: str) -> list[str]:
        """Secrets to sign with (newest first); read from the secret store once."""
        cached = self._webhook_secrets.get(helper_id)
        if cached is None:
            value = self.secrets.get(f"webhook-secret:{helper_id}")
            cached = [value] if value else []
            self._webhook_secrets[helper_id] = cached
        return cached

    def persist_last_seen(self) -> None:
        with self._lock:
            seen, self._last_seen = dict(self._last_seen), {}
        self.store.save_last_seen(seen)
