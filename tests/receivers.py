"""Real loopback HTTP receivers for tests that send webhooks.

A :class:`Receiver` is a tiny threaded HTTP server on 127.0.0.1 (port 0 by
default, or a given port to stand in for a helper that comes back) that
records every request and answers from a script: fail N times, redirect,
410, ``Retry-After``, or hang until released. Tests wait on it with
:meth:`Receiver.wait_for` (a condition with a timeout), never with sleeps.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Receiver", "Reply", "bodies", "unused_port"]


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str  # an absolute URL here means a client used us as a proxy
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.time() when it arrived


@dataclass(frozen=True)
class Reply:
    """How to answer one request; ``hang`` never answers (until the receiver closes)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False


def unused_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads
    block_on_close = True

    def __init__(self, owner: Receiver, port: int) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.owner._cond:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.owner._cond:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) makes our late write fail: expected.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection does not hold the server forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received = Received(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.time(),
        )
        reply = self.server.owner._record(received)
        if reply.hang:
            self.server.owner._released.wait()
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle


class Receiver:
    """A scripted loopback HTTP endpoint that records what it receives.

    Use as a context manager (or call :meth:`close`): it stops serving,
    releases hung requests, cuts open connections and joins its threads.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        default: Reply | None = None,
        on_request: Callable[[Received], None] | None = None,
    ) -> None:
        self._cond = threading.Condition()
        self._received: list[Received] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._default = default or Reply(200)
        self._on_request = on_request
        self._released = threading.Event()
        self._server = _Server(self, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"receiver-{self.port}", daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint to post events to."""
        return self.base_url + "/events"

    # -- scripting ---------------------------------------------------------

    def script(self, *replies: Reply) -> Receiver:
        """Answer the next requests with these replies, in order, then with the default."""
        with self._cond:
            self._script.extend(replies)
        return self

    def fail(self, times: int, status: int = 503, headers: Mapping[str, str] | None = None
             ) -> Receiver:
        return self.script(*[Reply(status, dict(headers or {}))] * times)

    def set_default(self, reply: Reply) -> None:
        with self._cond:
            self._default = reply

    def release(self) -> None:
        """Let hung requests finish (without an answer)."""
        self._released.set()

    # -- observing ---------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= count, timeout):
                raise AssertionError(
                    f"receiver got {len(self._received)} request(s), wanted {count} "
                    f"within {timeout} s"
                )
            return list(self._received)

    def _record(self, received: Received) -> Reply:
        if self._on_request is not None:
            self._on_request(received)
        with self._cond:
            self._received.append(received)
            reply = self._script.popleft() if self._script else self._default
            self._cond.notify_all()
        return reply

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        with self._cond:
            sockets = list(self._server.open_sockets)
        for s in sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                s.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bodies(received: Iterable[Received]) -> list[bytes]:
    """The bodies of ``received``, in order."""
    return [r.body for r in received]
