"""Request guards: small pure functions that run before any routing.

Each one looks at what the request says about itself and raises an
:class:`ApiError` with a 4xx status when it must not go further. They keep web
pages out (DNS rebinding via Host, drive-by requests via Origin, form posts
via Content-Type) and bound the work a request can cause (size).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sessionmgr.errors import SessionmgrError

MAX_BODY = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ApiError(SessionmgrError):
    """An error response decided by a guard or a route."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ):
        super().__init__(message, code=code, status=status)
        self.headers = headers or {}


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def check_host(values: list[str], port: int) -> None:
    """Only our own loopback address: a rebound DNS name never gets an answer."""
    if not values:
        raise ApiError(400, "missing_host", "the request has no Host header")
    if len(values) > 1:
        raise ApiError(400, "duplicate_host", "the request has more than one Host header")
    host = values[0].strip().lower()
    if host not in allowed_hosts(port):
        raise ApiError(
            421,
            "wrong_host",
            f"Host {values[0][:100]!r} is not this daemon; use 127.0.0.1:{port}",
        )


def check_origin(values: list[str], paired_origins: Collection[str]) -> None:
    """Web pages always send Origin on cross-site requests: refuse all but our helpers."""
    if not values:
        return
    if len(values) > 1 or values[0] not in paired_origins:
        raise ApiError(
            403,
            "forbidden_origin",
            f"requests from origin {values[0][:100]!r} are not allowed; only paired browser"
            " helpers may call this API",
        )


def check_body_headers(
    method: str,
    content_type: str | None,
    content_length: list[str],
    transfer_encoding: str | None,
) -> int:
    """Decide from the headers alone whether a body may be read; returns its length."""
    if transfer_encoding is not None:
        raise ApiError(
            411, "length_required", "chunked bodies are not accepted; send Content-Length"
        )
    if len(content_length) > 1:
        raise ApiError(400, "bad_content_length", "the request has more than one Content-Length")
    length = 0
    if content_length:
        raw = content_length[0].strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise ApiError(
                400, "bad_content_length", f"Content-Length {raw[:20]!r} is not a number"
            )
        length = int(raw)
    if length > MAX_BODY:
        raise ApiError(
            413, "body_too_large", f"the body is {length} bytes; the limit is {MAX_BODY} (64 KiB)"
        )
    if method not in BODY_METHODS:
        return length  # refused by check_no_body once routing has answered 404/405
    if content_type is None and length == 0:
        return 0
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "the body must be Content-Type: application/json,"
            f" got {(content_type or 'none')[:60]!r}",
        )
    return length


def check_no_body(method: str, length: int) -> None:
    """GET, DELETE and the like take no body (checked after routing, so 405 comes first)."""
    if length and method not in BODY_METHODS:
        raise ApiError(400, "unexpected_body", f"{method[:20]} requests take no body")


def body_declared(content_length: list[str], transfer_encoding: str | None) -> bool:
    """Whether the request says a body follows: if it goes unread, the connection must close."""
    return transfer_encoding is not None or any(v.strip() != "0" for v in content_length)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    if not raw:
        return {}
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not UTF-8 (byte {exc.start})") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body is nested too deeply") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_input", "body: must be a JSON object")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
