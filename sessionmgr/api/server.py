"""The loopback HTTP server: our own strict HTTP/1.1 reader on socketserver threads.

The request head is parsed here rather than by ``http.server``: importing that
pulls in ``http.client``, the e-mail package and ``ssl`` (milliseconds of the
tray's start-up and a few MiB it never needs), and its header parser, built on
the e-mail parser, takes about three times as long per request as matching each
line against the one grammar we accept. Owning the parser also makes it strict:
anything two parsers could read differently (extra spaces, folded or malformed
header lines, bare line feeds, control characters, other HTTP versions) is
refused with a 4xx and the connection closed, instead of being guessed at.

Every response is assembled in memory and sent with a single write, with
Nagle off, so loopback keep-alive requests are not held back by delayed ACKs.
Every error, including a request we cannot parse, is a JSON body
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import socket
import socketserver
import threading
import time
import urllib.parse
from http import HTTPStatus
from typing import Any

from sessionmgr.api import guards, routes
from sessionmgr.errors import SessionmgrError
from sessionmgr.store.db import StoreEnvironmentError

log = logging.getLogger("sessionmgr.api")

_SECURITY_HEADERS = (
    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
)

# The request line and each header line, CRLF included, are at most this long.
LINE_LIMIT = 64 * 1024
MAX_HEADERS = 100
# The grammar we accept (RFC 9110/9112, minus everything obsolete), matched on a line
# decoded as latin-1. A method or header name is a token (tchar); a request target is
# visible ASCII (a client percent-encodes the rest); a header value is visible
# characters and obs-text with single inner runs of SP/HTAB, never CR, LF, NUL or
# another control. Each pattern is unambiguous, so a failing 64 KiB line is refused
# in linear time.
_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_WORD = r"[\x21-\x7e\x80-\xff]+"
_REQUEST_LINE = re.compile(rf"({_TCHARS}) ([\x21-\x7e]+) (HTTP/1\.[01])\r\n")
_HEADER_LINE = re.compile(rf"({_TCHARS}):[ \t]*(?:({_WORD}(?:[ \t]+{_WORD})*)[ \t]*)?\r\n")
_TOKEN_ONLY = re.compile(_TCHARS)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Headers:
    """Header fields by case-insensitive name, each with all its values in order."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, list[str]] | None = None) -> None:
        self._fields = {} if fields is None else fields  # lower-cased name -> values

    def get(self, name: str) -> str | None:
        """The first value, as a single-valued header is read."""
        values = self._fields.get(name.lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value, for the headers whose repetition is itself a finding (Host, ...)."""
        return list(self._fields.get(name.lower(), ()))


def parse_request_line(line: bytes) -> tuple[str, str, str]:
    """``METHOD SP target SP HTTP/1.x CRLF`` exactly, as (method, target, version)."""
    if len(line) > LINE_LIMIT:
        raise guards.ApiError(414, "request_line_too_long", "the request line is over 64 KiB")
    found = _REQUEST_LINE.fullmatch(line.decode("latin-1"))
    if found is None:
        raise _request_line_problem(line)
    method, target, version = found.groups()
    return method, target, version


def read_headers(rfile: io.BufferedIOBase) -> Headers | None:
    """The header lines up to the empty one; ``None`` when the client hung up mid-head."""
    fields: dict[str, list[str]] = {}
    count = 0
    while True:
        line = rfile.readline(LINE_LIMIT + 1)
        if len(line) > LINE_LIMIT:
            raise guards.ApiError(431, "header_line_too_long", "a header line is over 64 KiB")
        if not line.endswith(b"\n"):
            return None
        if line == b"\r\n":
            return Headers(fields)
        count += 1
        if count > MAX_HEADERS:
            raise guards.ApiError(
                431, "too_many_headers", f"the request has more than {MAX_HEADERS} header lines"
            )
        found = _HEADER_LINE.fullmatch(line.decode("latin-1"))
        if found is None:
            raise _header_problem(line)
        name, value = found.groups()
        fields.setdefault(name.lower(), []).append(value or "")


def _request_line_problem(line: bytes) -> guards.ApiError:
    """Why ``_REQUEST_LINE`` refused ``line``, in words (the grammar is the pattern's)."""
    if not line.endswith(b"\r\n"):
        return guards.ApiError(400, "bad_line_ending", "lines of the request head end in CRLF")
    parts = line[:-2].split(b" ")
    if len(parts) != 3:
        return guards.ApiError(
            400,
            "bad_request_line",
            "the request line must be METHOD SP target SP HTTP/1.1, with single spaces",
        )
    method, _, version = parts
    if not _TOKEN_ONLY.fullmatch(method.decode("latin-1")):
        return guards.ApiError(400, "bad_request_line", "the method is not a token")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        shown = version[:20].decode("latin-1")
        return guards.ApiError(400, "bad_http_version", f"{shown!r} is not supported; use HTTP/1.1")
    return guards.ApiError(  # what is left: the target
        400, "bad_request_target", "the request target has spaces, controls or non-ASCII"
    )


def _header_problem(line: bytes) -> guards.ApiError:
    """Why ``_HEADER_LINE`` refused ``line``, in words; values are never echoed."""
    if not line.endswith(b"\r\n"):
        return guards.ApiError(400, "bad_line_ending", "lines of the request head end in CRLF")
    if line[:1] in (b" ", b"\t"):
        return guards.ApiError(400, "bad_header", "folded header lines (obs-fold) are not accepted")
    name, colon, _ = line.partition(b":")
    if not colon:
        return guards.ApiError(400, "bad_header", "a header line has no colon")
    text = name.decode("latin-1")
    if not _TOKEN_ONLY.fullmatch(text):
        if text != text.rstrip(" \t") and _TOKEN_ONLY.fullmatch(text.rstrip(" \t")):
            return guards.ApiError(
                400, "bad_header", "a header name has whitespace before the colon"
            )
        return guards.ApiError(400, "bad_header", "a header name is not a token")
    return guards.ApiError(400, "bad_header", f"header {text[:60]} has a control character")


def keeps_alive(version: str, headers: Headers) -> bool:
    """HTTP/1.1 stays open unless told to close; HTTP/1.0 only when asked to keep alive."""
    options = {
        option.strip().lower()
        for value in headers.get_all("Connection")
        for option in value.split(",")
    }
    if "close" in options:
        return False
    return version == "HTTP/1.1" or "keep-alive" in options


class _Handler(socketserver.StreamRequestHandler):
    """One connection: requests read one after another (keep-alive, pipelining)."""

    disable_nagle_algorithm = True
    # A client that stalls mid-request (or idles on keep-alive) is cut off instead of
    # holding a thread forever.
    timeout = 30.0
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        self.idle = True
        self.close_connection = False
        self.command = ""
        self.path = ""
        self.request_version = "HTTP/1.1"
        self.headers = Headers()
        self.server.track(self, True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self, False)

    def handle(self) -> None:
        try:
            while not self.close_connection:
                self.idle = True
                self._handle_one_request()
                self.idle = True
                if self.server.stopping:
                    self.close_connection = True
        except OSError as exc:  # timed out, or the client went away; nobody to answer
            log.debug("%s: connection dropped: %s", self.client_address[0], exc)

    def _handle_one_request(self) -> None:
        self.command, self.close_connection = "", True  # until the request says otherwise
        line = self.rfile.readline(LINE_LIMIT + 1)
        if line == b"\r\n":  # RFC 9112 section 2.2: a stray CRLF before a request is skipped
            line = self.rfile.readline(LINE_LIMIT + 1)
        if len(line) <= LINE_LIMIT and not line.endswith(b"\n"):
            return  # the client hung up, between requests or mid-line
        self.idle = False
        try:
            self.command, self.path, self.request_version = parse_request_line(line)
            headers = read_headers(self.rfile)
        except guards.ApiError as exc:
            self._send(routes.Response(exc.status, exc.to_json()))
            return
        if headers is None:
            return
        self.headers = headers
        self.close_connection = not keeps_alive(self.request_version, headers)
        self._dispatch()

    # -- the one request path ---------------------------------------------------

    def _dispatch(self) -> None:
        started = time.perf_counter()
        body_read = False
        length = 0
        api = self.server.api
        try:
            raw_path, _, raw_query = self.path.partition("?")
            if not raw_path.startswith("/"):
                raise guards.ApiError(
                    400, "bad_request_target", "the request target must be a path"
                )
            guards.check_host(self.headers.get_all("Host"), self.server.port)
            guards.check_origin(self.headers.get_all("Origin"), api.registry.paired_origins())
            length = guards.check_body_headers(
                self.command,
                self.headers.get("Content-Type"),
                self.headers.get_all("Content-Length"),
                self.headers.get("Transfer-Encoding"),
            )
            try:
                route, params = routes.match(self.command, raw_path)
                query = urllib.parse.parse_qs(raw_query, keep_blank_values=True, errors="strict")
            except UnicodeDecodeError:
                raise guards.ApiError(400, "bad_encoding", "the URL is not valid UTF-8") from None
            guards.check_no_body(self.command, length)
            headers = {
                "authorization": self.headers.get("Authorization") or "",
                "x-auth-expected": self.headers.get("X-Auth-Expected") or "",
            }
            request = routes.Request(self.command, raw_path, params, query, headers)
            if route.who in ("helper", "owner"):
                request.principal = api.registry.authenticate(
                    headers["authorization"], expected=headers["x-auth-expected"] or None
                )
                routes.authorize(route, request.principal)
            try:
                raw = self._read_body(length)
            except OSError:  # stalled past the timeout or gone mid-body: nobody to answer
                self.close_connection = True
                return
            body_read = True
            if len(raw) != length:
                raise guards.ApiError(400, "truncated_body", "the body ended before Content-Length")
            if route.raw_body:
                request.raw = raw
            else:
                request.body = guards.parse_json_object(raw)
            response = route.handler(api, request)
            principal = request.principal
            if principal is not None and principal.renewal is not None:
                response.headers.update(api.renewal_headers(principal))
        except SessionmgrError as exc:
            response = routes.Response(exc.status, exc.to_json(), dict(getattr(exc, "headers", {})))
        except StoreEnvironmentError as exc:
            log.error("storage problem: %s", exc)
            response = routes.Response(
                503, {"error": {"code": "storage_unavailable", "message": str(exc)}}
            )
        except Exception:
            log.exception(
                "bug while handling %s %s", self.command, self.path.partition("?")[0][:200]
            )
            response = routes.Response(
                500,
                {
                    "error": {
                        "code": "internal_error",
                        "message": "sessionmgr hit a bug; see its log",
                    }
                },
            )
        if not body_read and guards.body_declared(
            self.headers.get_all("Content-Length"), self.headers.get("Transfer-Encoding")
        ):
            self.close_connection = True  # the unread body would be taken for the next request
        self._send(response)
        log.debug(
            "%s %s -> %d in %.2f ms",
            self.command,
            self.path.partition("?")[0][:200],
            response.status,
            (time.perf_counter() - started) * 1000,
        )

    def _read_body(self, length: int) -> bytes:
        """The body, once the guards let it in; a client that asked first is told to send it."""
        if not length:
            return b""
        expect = self.headers.get("Expect")
        if (
            expect is not None
            and expect.lower() == "100-continue"
            and self.request_version == "HTTP/1.1"
        ):
            self.wfile.write(_CONTINUE)
        return self.rfile.read(length)

    def _send(self, response: routes.Response) -> None:
        status = response.status
        if response.encoded is not None:
            body = response.encoded
        else:
            body = b"" if response.body is None else json.dumps(response.body).encode()
        phrase = HTTPStatus(status).phrase
        head = [f"HTTP/1.1 {status} {phrase}\r\n", _SECURITY_HEADERS]
        if status != 204:
            head.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
        for name, value in response.headers.items():
            head.append(f"{name}: {value}\r\n")
        if self.close_connection or self.server.stopping:
            self.close_connection = True
            head.append("Connection: close\r\n")
        head.append("\r\n")
        if self.command == "HEAD":
            body = b""  # a HEAD answer has no body, or it would be read as the next response
        with contextlib.suppress(OSError):
            self.wfile.write("".join(head).encode("latin-1") + body)


class ApiServer(socketserver.ThreadingTCPServer):
    """Loopback only; stops cleanly with in-flight requests finished."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, api: Any, host: str = "127.0.0.1", port: int = 0):
        if host != "127.0.0.1":
            raise ValueError(f"sessionmgr listens on 127.0.0.1 only, not {host}")
        self.api = api
        self.stopping = False
        self._connections: dict[_Handler, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self.port = self.server_address[1]
        self._thread: threading.Thread | None = None

    def server_bind(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # no other local user may steal the port
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
        # Plain TCPServer's bind: no resolver lookup of our own name (getfqdn), which a
        # loopback daemon never needs at start-up.
        super().server_bind()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def track(self, handler: _Handler, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections[handler] = threading.current_thread()
            else:
                self._connections.pop(handler, None)

    def start(self) -> None:
        # No poll interval: an idle daemon sleeps in select() until a client comes.
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": None},
            name="api-server",
            daemon=True,
        )
        self._thread.start()

    def _stop_accepting(self) -> None:
        """``shutdown()``, waking the loop from its untimed select() with a connection."""
        stopper = threading.Thread(target=self.shutdown, name="api-shutdown", daemon=True)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            stopper.join(0.05)

    def stop(self, timeout: float = 4.0) -> None:
        """Stop accepting, let requests in flight finish, close idle keep-alive connections."""
        self.stopping = True
        if self._thread is not None:
            self._stop_accepting()
        deadline = time.monotonic() + timeout
        while True:
            with self._connections_lock:
                connections = dict(self._connections)
            if not connections or time.monotonic() >= deadline:
                break
            for handler, _ in connections.items():
                if handler.idle:
                    with contextlib.suppress(OSError):
                        handler.connection.shutdown(socket.SHUT_RDWR)
            for thread in connections.values():
                thread.join(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
