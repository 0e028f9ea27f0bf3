"""Shared pieces for the site-kit tests: an injectable clock and a real loopback WSGI server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgi_server(make_app: Callable[[str], Any]) -> Iterator[tuple[str, Any]]:
    """Serve ``make_app(audience)`` on 127.0.0.1, port 0; yields (base url, app)."""
    server = make_server("127.0.0.1", 0, lambda e, s: [], _Server, _Quiet)
    port = server.server_address[1]
    app = make_app(f"127.0.0.1:{port}")
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def echo_app(kit_ref: list[Any]) -> Callable[..., Iterable[bytes]]:
    """GET/POST anything: answers who the kit says the request is (email, sid)."""

    def app(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        kit = kit_ref[0]
        body = json.dumps({
            "email": kit.identity(environ), "sid": kit.get_id(environ),
            "method": environ["REQUEST_METHOD"],
        }).encode()
        start("200 OK", [("Content-Type", "application/json"),
                         ("Content-Length", str(len(body)))])
        return [body]

    return app


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def sign_claims(keys: Any, key_site: str, account: str, claims: dict[str, Any]) -> str:
    """An assertion over any ``claims``, signed with the real key of (key_site, account)."""
    from sessionmgr.security.assertions import b64url_encode

    body = json.dumps(claims, separators=(",", ":"), sort_keys=True)
    first = b64url_encode(body.encode("utf-8"))
    return f"{first}.{b64url_encode(keys.sign(key_site, account, first.encode('ascii')))}"


def claims(aud: str, sub: str, iat: float, nonce: str | None, ttl: float = 300) -> dict[str, Any]:
    return {"v": 1, "iss": "sessionmgr", "aud": aud, "sub": sub, "iat": iat, "exp": iat + ttl,
            "nonce": nonce}
