"""Signing and verifying webhooks with the Standard Webhooks scheme.

The daemon signs every delivery so a browser helper can tell it came from its
own daemon (and not from some other local process posting to its port); the
helper runs :class:`WebhookVerifier` on what it receives. The scheme is the
public Standard Webhooks one so third-party helpers can use its reference
library instead of ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "SECRET_PREFIX",
    "WebhookRejected",
    "WebhookVerifier",
    "new_webhook_secret",
    "sign",
    "signature_header",
    "webhook_headers",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_SECRET_BYTES = 32
# Secrets shorter than this are typos or truncations, not keys.
_MIN_SECRET_BYTES = 16
# A timestamp header longer than this is garbage, not seconds since 1970.
_MAX_TIMESTAMP_DIGITS = 15


def new_webhook_secret() -> str:
    """A fresh helper secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret (the prefix is optional, as in the reference)."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        # Tolerate missing padding like the reference library does.
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not valid base64") from None
    if len(key) < _MIN_SECRET_BYTES:
        raise ValueError("webhook secret is too short")
    return key


def _mac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _check_inputs(msg_id: str, timestamp: int, body: bytes) -> None:
    # Standard Webhooks signs "id.timestamp.body": a bool or float timestamp
    # would sign a different string than the header carries.
    if not msg_id:
        raise ValueError("webhook id must not be empty")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("webhook timestamp must be an int (seconds)")
    if not isinstance(body, bytes | bytearray):
        raise TypeError("webhook body must be bytes")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``id.timestamp.body`` with ``secret``."""
    _check_inputs(msg_id, timestamp, body)
    mac = _mac(_secret_key(secret), msg_id, timestamp, bytes(body))
    return "v1," + base64.b64encode(mac).decode("ascii")


def signature_header(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> str:
    """Signatures with every secret, space separated, so a helper mid-rotation accepts either."""
    if isinstance(secrets, str) or not secrets:
        raise ValueError("need a non-empty sequence of webhook secrets")
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def webhook_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }


class WebhookRejected(Exception):
    """A received webhook failed verification; ``reason`` is a stable code.

    Codes: ``missing_headers``, ``bad_timestamp``, ``too_old``, ``too_new``,
    ``bad_signature``, ``duplicate``, and ``bad_body`` (signed correctly but
    not a JSON object).
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names folded to lower case; a name given twice with different values is refused.

    Accepts a ``dict``, ``http.client.HTTPMessage`` or ``email.message.Message``
    (whose ``items()`` may repeat a name).
    """
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in out and out[key] != value:
            raise WebhookRejected("missing_headers", f"header {key} given twice")
        out[key] = value
    return out


class WebhookVerifier:
    """What a browser helper runs on each webhook it receives.

    Checks the Standard Webhooks headers, the timestamp (within ``tolerance``
    seconds either way, so a captured request cannot be replayed later), any
    ``v1`` signature against any of ``secrets`` (more than one during a
    rotation), then refuses a ``webhook-id`` it has already accepted: the
    daemon delivers at least once, so a retry of an event the helper already
    handled must be ignored. The ids remembered are bounded by ``remember``
    (oldest forgotten first). Thread safe.
    """

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance: float = 300,
        clock: Callable[[], float] = time.time,
        remember: int = 10_000,
    ) -> None:
        if isinstance(secrets, str) or not secrets:
            raise ValueError("need a non-empty sequence of webhook secrets")
        if remember < 1:
            raise ValueError("remember must be at least 1")
        self._keys = [_secret_key(s) for s in secrets]
        self._tolerance = tolerance
        self._clock = clock
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """Return the parsed JSON body of an authentic, fresh, first-seen webhook.

        Raises :class:`WebhookRejected` otherwise.
        """
        h = _lower_headers(headers)
        msg_id = h.get("webhook-id", "")
        ts_text = h.get("webhook-timestamp", "")
        sig_text = h.get("webhook-signature", "")
        if not (msg_id and ts_text and sig_text):
            raise WebhookRejected("missing_headers", "webhook-id, -timestamp and -signature needed")

        ts_text = ts_text.strip()
        if not (ts_text.isascii() and ts_text.isdigit()) or len(ts_text) > _MAX_TIMESTAMP_DIGITS:
            raise WebhookRejected("bad_timestamp", "webhook-timestamp is not integer seconds")
        timestamp = int(ts_text)
        now = self._clock()
        if timestamp < now - self._tolerance:
            raise WebhookRejected("too_old", "webhook-timestamp is too old")
        if timestamp > now + self._tolerance:
            raise WebhookRejected("too_new", "webhook-timestamp is in the future")

        body = bytes(body)
        expected = [_mac(k, msg_id, timestamp, body) for k in self._keys]
        if not self._any_signature_matches(sig_text, expected):
            raise WebhookRejected("bad_signature", "no matching v1 signature")

        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise WebhookRejected("bad_body", "body is not JSON") from None
        if not isinstance(payload, dict):
            raise WebhookRejected("bad_body", "body is not a JSON object")

        with self._lock:
            if msg_id in self._seen:
                raise WebhookRejected("duplicate", "webhook-id already accepted")
            self._seen[msg_id] = None
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        return payload

    @staticmethod
    def _any_signature_matches(header: str, expected: list[bytes]) -> bool:
        matched = False
        for item in header.split():
            version, _, encoded = item.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            for mac in expected:
                # Compare against every key without stopping early.
                matched |= hmac.compare_digest(mac, given)
        return matched
