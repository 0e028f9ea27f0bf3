"""The loopback HTTP server: stdlib, threaded, keep-alive, one write per response.

Every response is assembled in memory and sent with a single write, with
Nagle off, so loopback keep-alive requests are not held back by delayed ACKs.
Every error, including the ones the stdlib parser detects itself, is a JSON
body ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
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


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sessionmgr"
    sys_version = ""
    disable_nagle_algorithm = True
    # A client that stalls mid-request (or idles on keep-alive) is cut off instead of
    # holding a thread forever.
    timeout = 30.0
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        self.idle = True
        self.server.track(self, True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self, False)

    def handle_one_request(self) -> None:
        self.idle = True
        super().handle_one_request()
        self.idle = True
        if self.server.stopping:
            self.close_connection = True

    def parse_request(self) -> bool:
        self.idle = False
        return super().parse_request()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

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
            guards.check_host(self.headers.get_all("Host") or [], self.server.port)
            guards.check_origin(self.headers.get_all("Origin") or [], api.registry.paired_origins())
            length = guards.check_body_headers(
                self.command,
                self.headers.get("Content-Type"),
                self.headers.get_all("Content-Length") or [],
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
            raw = self.rfile.read(length) if length else b""
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
            self.headers.get_all("Content-Length") or [], self.headers.get("Transfer-Encoding")
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
        if getattr(self, "command", None) == "HEAD":
            body = b""  # a HEAD answer has no body, or it would be read as the next response
        with contextlib.suppress(OSError):
            self.wfile.write("".join(head).encode("latin-1") + body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by the stdlib parser, as JSON; none of them is our fault."""
        if code >= 500:
            code, message = 400, message or "unsupported request"
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        slug = HTTPStatus(code).phrase.lower().replace(" ", "_").replace("-", "_")
        self._send(routes.Response(code, {"error": {"code": slug, "message": text}}))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.client_address[0], *args)


class ApiServer(http.server.ThreadingHTTPServer):
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
        # TCPServer's bind, not HTTPServer's: that one asks the resolver for our own
        # name (getfqdn), a lookup a loopback daemon never needs at start-up.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

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
