"""Hostile requests against a real daemon: each gets a clean 4xx and changes nothing.

Every request goes over a raw socket, byte for byte as written here (``requests``
would normalise Host, Content-Length and chunking away). For each one the test
compares the daemon's state before and after: the owner's view through the API
(sites, events, helpers, pairings) and a dump of the SQLite database opened
read-only. Requests that would change state if they got through carry bodies
that *would* change it (a valid declaration, a real site to delete), so "nothing
changed" means the guard held, not that the request was harmless anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sessionmgr.daemon import API_KEYS
from sessionmgr.security.secrets import FileSecretStore
from sessionmgr.security.tokens import KeySet, Tokener
from tests.conftest import DaemonProcess, daemon_env

EXT_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
REVOKED_ORIGIN = "moz-extension://0f1e2d3c-4b5a-4968-8776-655443322110"
DECLARATION = {
    "sessions": [{"email": "mallory", "status": "active"}],
    "cookies": [],
}
DEFAULT = object()


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    closed: bool

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class World:
    """The daemon under attack and what the attacker might hold."""

    daemon: DaemonProcess
    helper_id: str
    helper_token: str
    revoked_helper_id: str
    revoked_token: str
    foreign_token: str
    pairing_id: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.daemon.port

    @property
    def owner(self) -> str:
        return self.daemon.token

    @property
    def db(self) -> Path:
        return self.daemon.home / "sessionmgr.sqlite3"


# -- raw HTTP ---------------------------------------------------------------------------


def build(
    world: World,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    body: bytes | None = None,
    host: Any = DEFAULT,
    content_type: str | None = DEFAULT,  # type: ignore[assignment]
    length: Any = DEFAULT,
    headers: tuple[tuple[str, str], ...] = (),
    close: bool = True,
    version: str = "HTTP/1.1",
) -> bytes:
    """One request, exactly as given; defaults fill in what a well-behaved client sends."""
    if json_body is not None:
        body = json.dumps(json_body).encode()
    lines = [f"{method} {path} {version}"]
    hosts = [f"127.0.0.1:{world.port}"] if host is DEFAULT else host
    lines += [f"Host: {value}" for value in hosts or []]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None and content_type is DEFAULT:
        lines.append("Content-Type: application/json")
    elif content_type is not DEFAULT and content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if length is DEFAULT:
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
    elif length is not None:
        lines += [f"Content-Length: {value}" for value in length]
    lines += [f"{name}: {value}" for name, value in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def read_answer(sock: socket.socket, buffer: bytes = b"") -> tuple[Answer, bytes]:
    """The next answer on ``sock`` (``buffer``: bytes already received), and what follows it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before an answer: {buffer!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in header_lines]
    answer = Answer(int(status_line.split()[1]), headers, b"", False)  # type: ignore[arg-type]
    size = int(answer.header("Content-Length") or 0)
    while len(rest) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    answer.body = rest[:size]
    return answer, rest[size:]


def exchange(port: int, data: bytes, timeout: float = 5.0, *, half_close: bool = False) -> Answer:
    """Send ``data`` and read the one answer; ``closed`` says whether the server hung up.

    A server that waited for a body we never send would make this time out.
    ``half_close`` ends our side after ``data``, as a client that sent less than it said.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer, extra = read_answer(sock)
        # The server must hang up by itself when it said Connection: close (or we asked).
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                answer.closed = True
                break
            extra += chunk
        assert extra == b"", f"bytes after the answer: {extra[:200]!r}"
        return answer


# -- the state that must not change ----------------------------------------------------------


def snapshot(world: World) -> dict[str, Any]:
    views = {}
    for path in ("/v1/sites", "/v1/events", "/v1/helpers", "/v1/pairings"):
        answer = world.daemon.request("GET", path)
        assert answer.status_code == 200, answer.text
        views[path] = answer.json()
    for helper in views["/v1/helpers"]["helpers"]:
        helper.pop("last_seen")  # "seen" is the one thing a refused helper request may move
    with contextlib.closing(sqlite3.connect(f"file:{world.db}?mode=ro", uri=True)) as conn:
        views["sqlite"] = list(conn.iterdump())
    return views


def assert_clean_refusal(world: World, answer: Answer, status: int, code: str | None) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.header("Content-Type") == "application/json"
    document = json.loads(answer.body)
    assert list(document) == ["error"]
    assert sorted(document["error"]) == ["code", "message"]
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", document["error"]["code"])
    assert document["error"]["message"]
    if code is not None:
        assert document["error"]["code"] == code, document
    text = answer.body.decode()
    for secret in (world.owner, world.helper_token, world.revoked_token, world.foreign_token):
        assert secret not in text
    assert "Traceback" not in text
    assert not [k for k, _ in answer.headers if k.lower().startswith("access-control-")]


# -- the world --------------------------------------------------------------------------------


def _pair(daemon: DaemonProcess, name: str, origin: str) -> tuple[str, str, str]:
    asked = daemon.request(
        "POST",
        "/v1/pairings",
        token=None,
        json={"name": name, "events_url": "http://127.0.0.1:9/events", "origin": origin},
    )
    assert asked.status_code == 202, asked.text
    pairing = asked.json()
    approved = daemon.request("POST", f"/v1/pairings/{pairing['id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    polled = daemon.request(
        "GET", f"/v1/pairings/{pairing['id']}", token=pairing["poll_secret"]
    ).json()
    assert polled["status"] == "approved"
    return pairing["id"], polled["helper_id"], polled["token"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("hostile")
    daemons: list[DaemonProcess] = []

    def start(name: str) -> DaemonProcess:
        home = base / name
        home.mkdir()
        daemon = DaemonProcess(home, daemon_env(home))
        daemons.append(daemon)
        return daemon.start()

    try:
        other = start("other")  # a second daemon: its tokens are signed with another key
        foreign_token = other.token
        other.stop()
        daemon = start("target")
        put = daemon.request(
            "PUT",
            "/v1/sites/example.com/declaration",
            json={
                "sessions": [
                    {"email": "ann", "bound_to": {"type": "cookie", "cookie_name": "sid"}},
                    {"email": "bob", "status": "passive"},
                ],
                "cookies": ["sid"],
            },
        )
        assert put.status_code == 200, put.text
        # An event in the outbox, confirmed by the site, before any helper could receive it.
        assert daemon.request("POST", "/v1/sites/example.com/login", json={"id": "bob"}).ok
        put = daemon.request(
            "PUT",
            "/v1/sites/example.com/declaration",
            json={"sessions": [{"email": "bob"}, {"email": "ann", "status": "passive"}]},
        )
        assert put.json()["pending"] is None and put.json()["active"] == "bob"
        quiet = daemon.request("PUT", "/v1/sites/quiet.example/declaration", json={"sessions": []})
        assert quiet.status_code == 200
        pairing_id, helper_id, helper_token = _pair(daemon, "Helper one", EXT_ORIGIN)
        _, revoked_id, revoked_token = _pair(daemon, "Helper two", REVOKED_ORIGIN)
        assert daemon.request("DELETE", f"/v1/helpers/{revoked_id}").status_code == 204
        world = World(
            daemon=daemon,
            helper_id=helper_id,
            helper_token=helper_token,
            revoked_helper_id=revoked_id,
            revoked_token=revoked_token,
            foreign_token=foreign_token,
            pairing_id=pairing_id,
        )
        # Tokens made with the daemon's own signing key, but wrong in time or purpose.
        keys = KeySet.load(FileSecretStore(daemon.home / "secrets.json"), API_KEYS, now=time.time())
        identity = f"helper:{helper_id}"
        world.tokens = {
            "expired": Tokener(keys, "api-token", clock=lambda: time.time() - 15 * 86400)
            .issue(identity)
            .token,
            "future": Tokener(keys, "api-token", clock=lambda: time.time() + 3600)
            .issue(identity)
            .token,
            "other_purpose": Tokener(keys, "webhook").issue(identity).token,
        }
        yield world
    finally:
        for daemon in daemons:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.stop()
            daemon.session.close()


def forged(token: str) -> str:
    """The same token with one signature character changed."""
    kid, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return ".".join([kid, payload, signature[:middle] + swapped + signature[middle + 1 :]])


# -- the hostile requests ------------------------------------------------------------------------

Builder = Callable[[World], bytes]
CASES: list[tuple[str, int, str | None, str, Builder]] = []


def hostile(
    name: str, status: int, code: str | None = None, mentions: str = ""
) -> Callable[[Builder], Builder]:
    """Register a hostile request: its status, error code and what the message must name."""

    def register(builder: Builder) -> Builder:
        CASES.append((name, status, code, mentions, builder))
        return builder

    return register


def declare(world: World, site: str = "example.com", body: Any = None, **kwargs: Any) -> bytes:
    if isinstance(body, bytes):
        kwargs["body"] = body
    else:
        kwargs["json_body"] = DECLARATION if body is None else body
    return build(
        world,
        "PUT",
        f"/v1/sites/{site}/declaration",
        token=kwargs.pop("token", world.owner),
        **kwargs,
    )


def pairing(world: World, **fields: Any) -> bytes:
    body = {"name": "Evil helper", "events_url": "http://127.0.0.1:8/e", **fields}
    return build(world, "POST", "/v1/pairings", json_body=body)


def owner_delete(world: World, *headers: tuple[str, str]) -> bytes:
    """The owner forgetting a known site: a head a lenient parser lets through changes state."""
    return build(world, "DELETE", "/v1/sites/example.com", token=world.owner, headers=headers)


def with_request_line(line: str, request: bytes) -> bytes:
    """``request`` with its request line replaced by ``line`` (CRLF added)."""
    return line.encode("latin-1") + request[request.index(b"\r\n") :]


# Host: DNS rebinding and malformed requests
hostile("missing_host", 400, "missing_host")(lambda w: declare(w, host=[]))
hostile("duplicate_host", 400, "duplicate_host")(
    lambda w: declare(w, host=[f"127.0.0.1:{w.port}", "evil.example"])
)
hostile("rebound_host", 421, "wrong_host")(lambda w: declare(w, host=[f"evil.example:{w.port}"]))
hostile("host_without_port", 421, "wrong_host")(lambda w: declare(w, host=["127.0.0.1"]))
hostile("host_other_port", 421, "wrong_host")(
    lambda w: declare(w, host=[f"127.0.0.1:{w.port + 1}"])
)
hostile("host_suffix_trick", 421, "wrong_host")(
    lambda w: declare(w, host=[f"localhost.evil.example:{w.port}"])
)
hostile("absolute_form_target", 400, "bad_request_target")(
    lambda w: build(w, "GET", f"http://evil.example:{w.port}/v1/sites", token=w.owner)
)
hostile("http_2_request_line", 400)(lambda w: build(w, "GET", "/v1/health", version="HTTP/2.0"))
hostile("too_many_headers", 431)(
    lambda w: build(w, "GET", "/v1/health", headers=tuple((f"X-{i}", "x") for i in range(120)))
)
hostile("request_line_too_long", 414)(lambda w: build(w, "GET", "/v1/" + "a" * 70000))

# The request head, parsed strictly: what a lenient parser would guess at is a 400.
# Each one is the owner's DELETE of a known site (or a read with the owner's token),
# so a parser that guessed its way through would change state or answer 200.
for name, line in [
    ("request_line_double_space", "DELETE  /v1/sites/example.com HTTP/1.1"),
    ("request_line_trailing_space", "DELETE /v1/sites/example.com HTTP/1.1 "),
    ("request_line_leading_space", " DELETE /v1/sites/example.com HTTP/1.1"),
    ("request_line_tab", "DELETE\t/v1/sites/example.com HTTP/1.1"),
    ("request_line_without_version", "DELETE /v1/sites/example.com"),
    ("http_0_9_get", "GET /v1/sites"),
    ("method_not_a_token", "DEL(ETE) /v1/sites/example.com HTTP/1.1"),
]:
    hostile(name, 400, "bad_request_line")(
        lambda w, line=line: with_request_line(line, owner_delete(w))
    )
for name, line in [
    ("lowercase_http_version", "DELETE /v1/sites/example.com http/1.1"),
    ("http_1_2_request_line", "DELETE /v1/sites/example.com HTTP/1.2"),
    ("http_version_leading_zero", "DELETE /v1/sites/example.com HTTP/01.1"),
]:
    hostile(name, 400, "bad_http_version")(
        lambda w, line=line: with_request_line(line, owner_delete(w))
    )
for name, line in [
    ("target_with_del", "DELETE /v1/sites/example.com\x7f HTTP/1.1"),
    ("target_not_ascii", "DELETE /v1/sites/ex\xe4mple.com HTTP/1.1"),
]:
    hostile(name, 400, "bad_request_target")(
        lambda w, line=line: with_request_line(line, owner_delete(w))
    )
hostile("bare_lf_line_endings", 400, "bad_line_ending")(
    lambda w: owner_delete(w).replace(b"\r\n", b"\n")
)
hostile("bare_lf_after_a_header", 400, "bad_line_ending")(
    lambda w: owner_delete(w).replace(
        f"Bearer {w.owner}\r\n".encode(), f"Bearer {w.owner}\n".encode()
    )
)
for name, header in [
    ("obs_fold_header", ("X-Note", "first\r\n folded")),
    ("obs_fold_with_tab", ("X-Note", "first\r\n\tfolded")),
    ("space_before_colon", ("X-Note ", "x")),
    ("header_name_not_a_token", ("X(Note)", "x")),
    ("empty_header_name", ("", "x")),
    ("header_line_without_colon", ("X-Note", "x\r\nNoColonHere")),
    ("nul_in_header_value", ("X-Note", "a\x00b")),
    ("bare_cr_in_header_value", ("X-Note", "a\rb")),
]:
    hostile(name, 400, "bad_header")(lambda w, header=header: owner_delete(w, header))
hostile("header_line_over_64k", 431, "header_line_too_long")(
    lambda w: owner_delete(w, ("X-Note", "a" * 70000))
)

# Origin: web pages
hostile("web_origin", 403, "forbidden_origin")(
    lambda w: declare(w, headers=(("Origin", "https://evil.example"),))
)
hostile("null_origin", 403, "forbidden_origin")(lambda w: declare(w, headers=(("Origin", "null"),)))
hostile("revoked_helper_origin", 403, "forbidden_origin")(
    lambda w: declare(w, headers=(("Origin", REVOKED_ORIGIN),))
)
hostile("paired_and_web_origin", 403, "forbidden_origin")(
    lambda w: declare(w, headers=(("Origin", EXT_ORIGIN), ("Origin", "https://evil.example")))
)
hostile("cors_preflight", 403, "forbidden_origin")(
    lambda w: build(
        w,
        "OPTIONS",
        "/v1/sites/example.com",
        headers=(
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "DELETE"),
            ("Access-Control-Request-Headers", "authorization"),
        ),
    )
)

# Content types a form or a simple fetch() can send
hostile("text_plain_body", 415, "unsupported_media_type")(
    lambda w: declare(w, content_type="text/plain")
)
hostile("form_urlencoded_pairing", 415, "unsupported_media_type")(
    lambda w: build(
        w,
        "POST",
        "/v1/pairings",
        body=b"name=x&events_url=http%3A%2F%2F127.0.0.1%3A8%2F",
        content_type="application/x-www-form-urlencoded",
    )
)
hostile("multipart_body", 415, "unsupported_media_type")(
    lambda w: declare(w, content_type="multipart/form-data; boundary=x")
)
hostile("no_content_type", 415, "unsupported_media_type")(lambda w: declare(w, content_type=None))
hostile("json_lookalike_type", 415, "unsupported_media_type")(
    lambda w: declare(w, content_type="application/json-patch+json")
)

# Sizes and framing
hostile("content_length_over_64k", 413, "body_too_large")(
    lambda w: declare(w, length=["65537"], body=b"", close=False)
)
hostile("content_length_huge", 413, "body_too_large")(
    lambda w: declare(w, length=["99999999999999999"], body=b"", close=False)
)
hostile("content_length_negative", 400, "bad_content_length")(
    lambda w: declare(w, length=["-1"], close=False)
)
hostile("content_length_unicode_digit", 400, "bad_content_length")(
    lambda w: declare(w, length=["\xb2"], body=b"", close=False)
)
hostile("content_length_twice", 400, "bad_content_length")(
    lambda w: declare(w, length=["2", "40"], close=False)
)
hostile("chunked_body", 411, "length_required")(
    lambda w: declare(
        w, length=None, body=b"2\r\n{}\r\n0\r\n\r\n", headers=(("Transfer-Encoding", "chunked"),)
    )
)
hostile("body_on_delete", 400, "unexpected_body")(
    lambda w: build(w, "DELETE", "/v1/sites/example.com", token=w.owner, json_body={})
)

# JSON that is not a declaration
hostile("malformed_json", 400, "malformed_json")(lambda w: declare(w, body=b'{"sessions": ['))
hostile("deep_nesting", 400, "malformed_json")(
    lambda w: declare(w, body=b'{"sessions": ' + b"[" * 30000 + b"]" * 30000 + b"}")
)
hostile("nan", 400, "malformed_json")(lambda w: declare(w, body=b'{"sessions": NaN}'))
hostile("infinity", 400, "malformed_json")(lambda w: declare(w, body=b'{"focused": -Infinity}'))
hostile("not_utf8", 400, "malformed_json")(lambda w: declare(w, body=b'{"sessions": "\xff"}'))
hostile("utf8_bom", 400, "malformed_json")(
    lambda w: declare(w, body=b"\xef\xbb\xbf" + json.dumps(DECLARATION).encode())
)
hostile("json_array", 400, "invalid_input")(lambda w: declare(w, body=[DECLARATION]))
hostile("json_string", 400, "invalid_input")(lambda w: declare(w, body="sessions"))
hostile("json_null", 400, "invalid_input")(lambda w: declare(w, body=b"null"))
hostile("huge_integer", 400)(lambda w: declare(w, body=b'{"focused": ' + b"9" * 5000 + b"}"))

# Tokens
hostile("no_token", 401, "missing_token")(lambda w: declare(w, token=None))
hostile("basic_auth", 401, "bad_authorization")(
    lambda w: build(w, "GET", "/v1/sites", headers=(("Authorization", "Basic b3duZXI6b3duZXI="),))
)
hostile("forged_signature", 401)(lambda w: declare(w, token=forged(w.owner)))
hostile("other_daemons_token", 401)(lambda w: declare(w, token=w.foreign_token))
hostile("garbled_token", 401)(lambda w: declare(w, token="not.a.token"))
hostile("alg_none_style_token", 401)(
    lambda w: declare(w, token=w.owner.split(".")[0] + ".eyJpIjoib3duZXIifQ.")
)
hostile("expired_token", 401)(lambda w: declare(w, token=w.tokens["expired"]))
hostile("token_from_the_future", 401)(lambda w: declare(w, token=w.tokens["future"]))
hostile("token_for_another_purpose", 401)(lambda w: declare(w, token=w.tokens["other_purpose"]))
hostile("revoked_helper_token", 401)(lambda w: declare(w, token=w.revoked_token))
hostile("revoked_helper_updates_itself", 401)(
    lambda w: build(
        w,
        "PATCH",
        f"/v1/helpers/{w.revoked_helper_id}",
        token=w.revoked_token,
        json_body={"events_url": "http://127.0.0.1:7/e"},
    )
)
hostile("helper_token_forgets_site", 403, "owner_only")(
    lambda w: build(w, "DELETE", "/v1/sites/example.com", token=w.helper_token)
)
hostile("helper_token_logs_out", 403, "owner_only")(
    lambda w: build(w, "POST", "/v1/sites/example.com/logout", token=w.helper_token, json_body={})
)
hostile("helper_token_approves_pairing", 403, "owner_only")(
    lambda w: build(
        w, "POST", f"/v1/pairings/{w.pairing_id}/approve", token=w.helper_token, json_body={}
    )
)
hostile("helper_token_revokes_helper", 403, "owner_only")(
    lambda w: build(w, "DELETE", f"/v1/helpers/{w.helper_id}", token=w.helper_token)
)
hostile("helper_updates_another_helper", 403, "not_this_helper")(
    lambda w: build(
        w,
        "PATCH",
        f"/v1/helpers/{w.revoked_helper_id}",
        token=w.helper_token,
        json_body={"events_url": "http://127.0.0.1:7/e"},
    )
)
hostile("owner_updates_helper_url", 403, "not_this_helper")(
    lambda w: build(
        w,
        "PATCH",
        f"/v1/helpers/{w.helper_id}",
        token=w.owner,
        json_body={"events_url": "http://127.0.0.1:7/e"},
    )
)
hostile("auth_expected_mismatch", 409, "unexpected_identity")(
    lambda w: declare(w, headers=(("X-Auth-Expected", "helper:someone-else"),))
)
hostile("auth_expected_owner_with_helper_token", 409, "unexpected_identity")(
    lambda w: declare(w, token=w.helper_token, headers=(("X-Auth-Expected", "owner"),))
)

# events_url: events go to loopback only
for name, url in [
    ("events_url_private_network", "http://10.0.0.1:80/"),
    ("events_url_https", "https://127.0.0.1/"),
    ("events_url_other_loopback", "http://127.0.0.2:1/"),
    ("events_url_localhost_no_port", "http://localhost/"),
    ("events_url_javascript", "javascript:alert(1)"),
    ("events_url_userinfo", "http://evil.example@127.0.0.1:1/"),
    ("events_url_port_zero", "http://127.0.0.1:0/"),
    ("events_url_ipv6_garbage", "http://[::1/"),
]:
    hostile(name, 400, "invalid_input")(lambda w, url=url: pairing(w, events_url=url))
hostile("helper_moves_events_off_loopback", 400, "invalid_input")(
    lambda w: build(
        w,
        "PATCH",
        f"/v1/helpers/{w.helper_id}",
        token=w.helper_token,
        json_body={"events_url": "http://10.0.0.1:80/"},
    )
)
hostile("pairing_web_origin", 400, "invalid_input")(
    lambda w: pairing(w, origin="https://evil.example")
)
hostile("pairing_origin_brackets", 400, "invalid_input")(
    lambda w: pairing(w, origin="moz-extension://N]x")
)
hostile("pairing_name_control_chars", 400, "invalid_input")(
    lambda w: pairing(w, name="Trusted\x1b[2J helper")
)

# Declarations that break R2 (issue 2), each a 400 naming the field
BAD_DECLARATIONS: list[tuple[str, Any, str]] = [
    ("sessions_missing", {"cookies": []}, "sessions"),
    ("sessions_wrong_type", {"sessions": "ann"}, "sessions"),
    ("session_not_object", {"sessions": ["ann"]}, "sessions[0]"),
    ("email_missing", {"sessions": [{"status": "active"}]}, "sessions[0].email"),
    ("email_wrong_type", {"sessions": [{"email": 5}]}, "sessions[0].email"),
    ("email_empty", {"sessions": [{"email": ""}]}, "sessions[0].email"),
    ("email_too_long", {"sessions": [{"email": "a" * 255}]}, "sessions[0].email"),
    ("email_c0_control", {"sessions": [{"email": "ann\x07"}]}, "sessions[0].email"),
    ("email_del", {"sessions": [{"email": "ann\x7f"}]}, "sessions[0].email"),
    ("email_c1_control", {"sessions": [{"email": "ann\x85"}]}, "sessions[0].email"),
    ("status_unknown", {"sessions": [{"email": "a", "status": "online"}]}, "sessions[0].status"),
    ("status_wrong_type", {"sessions": [{"email": "a", "status": True}]}, "sessions[0].status"),
    (
        "binding_type_unknown",
        {"sessions": [{"email": "a", "bound_to": {"type": "header", "cookie_name": "s"}}]},
        "sessions[0].bound_to.type",
    ),
    (
        "binding_cookie_name_missing",
        {"sessions": [{"email": "a", "bound_to": {"type": "cookie"}}]},
        "sessions[0].bound_to.cookie_name",
    ),
    (
        "binding_name_alias_empty",
        {"sessions": [{"email": "a", "bound_to": {"type": "cookie", "name": ""}}]},
        "sessions[0].bound_to.name",
    ),
    (
        "binding_not_object",
        {"sessions": [{"email": "a", "bound_to": "sid"}]},
        "sessions[0].bound_to",
    ),
    ("too_many_sessions", {"sessions": [{"email": f"u{i}"} for i in range(101)]}, "sessions"),
    ("cookies_wrong_type", {"sessions": [], "cookies": "sid"}, "cookies"),
    ("cookie_control_char", {"sessions": [], "cookies": ["s\nid"]}, "cookies[0]"),
    ("too_many_cookies", {"sessions": [], "cookies": [f"c{i}" for i in range(501)]}, "cookies"),
    ("focused_wrong_type", {"sessions": [], "focused": "yes"}, "focused"),
    (
        "second_entry_bad",
        {"sessions": [{"email": "ok"}, {"email": "x" * 300}]},
        "sessions[1].email",
    ),
]
for name, body, where in BAD_DECLARATIONS:
    hostile(f"declaration_{name}", 400, "invalid_input", f"{where}:")(
        lambda w, body=body: declare(w, body=body)
    )

# Site keys in the path
for name, site in [
    ("empty_label", "a..b"),
    ("space", "ex%20ample.com"),
    ("port", "example.com:80"),
    ("encoded_slash", "example.com%2Fx"),
    ("userinfo", "user@example.com"),
    ("not_utf8", "%FF.example"),
    ("ipv6", "%5B%3A%3A1%5D"),
    ("underscore", "ex_ample.com"),
    ("numeric_tld", "example.123"),
]:
    hostile(f"site_key_{name}", 400)(lambda w, site=site: declare(w, site=site))

# Routing, conflicts, pairing
hostile("unknown_path", 404, "not_found")(lambda w: build(w, "GET", "/v1/admin", token=w.owner))
hostile("path_traversal", 404, "not_found")(
    lambda w: build(w, "GET", "/v1/sites/../../etc/passwd", token=w.owner)
)
hostile("wrong_method", 405, "method_not_allowed")(
    lambda w: build(w, "DELETE", "/v1/sites/example.com/declaration", token=w.owner)
)
hostile("unknown_site_login", 404, "unknown_site")(
    lambda w: build(w, "POST", "/v1/sites/never.example/login", token=w.owner, json_body={})
)
hostile("login_unknown_account", 409, "unknown_account")(
    lambda w: build(
        w, "POST", "/v1/sites/example.com/login", token=w.owner, json_body={"id": "carol"}
    )
)
hostile("login_already_active", 409, "already_active")(
    lambda w: build(
        w, "POST", "/v1/sites/example.com/login", token=w.owner, json_body={"id": "bob"}
    )
)
hostile("login_without_id_while_active", 409, "already_signed_in")(
    lambda w: build(w, "POST", "/v1/sites/example.com/login", token=w.owner, json_body={})
)
hostile("login_persistent_not_bool", 400, "invalid_input")(
    lambda w: build(
        w,
        "POST",
        "/v1/sites/example.com/login",
        token=w.owner,
        json_body={"id": "ann", "persistent": "yes"},
    )
)
hostile("logout_nobody_active", 409, "not_signed_in")(
    lambda w: build(w, "POST", "/v1/sites/quiet.example/logout", token=w.owner, json_body={})
)
hostile("approve_unknown_pairing", 404, "unknown_pairing")(
    lambda w: build(w, "POST", "/v1/pairings/nope/approve", token=w.owner, json_body={})
)
hostile("approve_twice", 409, "pairing_approved")(
    lambda w: build(w, "POST", f"/v1/pairings/{w.pairing_id}/approve", token=w.owner, json_body={})
)
hostile("revoke_unknown_helper", 404, "unknown_helper")(
    lambda w: build(w, "DELETE", "/v1/helpers/nope", token=w.owner)
)
hostile("poll_wrong_secret", 401, "bad_poll_secret")(
    lambda w: build(w, "GET", f"/v1/pairings/{w.pairing_id}", token="guessed-secret")
)
hostile("poll_with_owner_token", 401, "bad_poll_secret")(
    lambda w: build(w, "GET", f"/v1/pairings/{w.pairing_id}", token=w.owner)
)
hostile("events_bad_limit", 400, "invalid_input")(
    lambda w: build(w, "GET", "/v1/events?limit=%C2%B2", token=w.owner)
)
hostile("events_unknown_parameter", 400, "invalid_input")(
    lambda w: build(w, "GET", "/v1/events?site=example.com&drop=1", token=w.owner)
)


def test_there_are_enough_distinct_hostile_requests() -> None:
    names = [name for name, *_ in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    ("status", "code", "mentions", "builder"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hostile_request_is_refused_and_changes_nothing(
    world: World, status: int, code: str | None, mentions: str, builder: Builder
) -> None:
    before = snapshot(world)
    answer = exchange(world.port, builder(world))
    assert_clean_refusal(world, answer, status, code)
    assert mentions in json.loads(answer.body)["error"]["message"]
    assert answer.closed  # asked for, or forced by an unread body
    assert snapshot(world) == before


def test_the_world_is_live(world: World) -> None:
    """The refusals above are not an artefact of a broken daemon or wrong tokens."""
    assert exchange(world.port, build(world, "GET", "/v1/sites", token=world.owner)).status == 200
    ok = exchange(world.port, build(world, "GET", "/v1/sites", token=world.helper_token))
    assert ok.status == 200
    paired = exchange(
        world.port,
        build(
            world, "GET", "/v1/sites", token=world.helper_token, headers=(("Origin", EXT_ORIGIN),)
        ),
    )
    assert paired.status == 200
    assert not [k for k, _ in paired.headers if k.lower().startswith("access-control-")]
    assert world.daemon.request("GET", "/v1/sites/example.com").json()["active"] == "bob"
    # Each kind of token is refused for its own reason, not by accident.
    reasons = {}
    for kind in ("expired", "future", "other_purpose"):
        answer = exchange(world.port, declare(world, token=world.tokens[kind]))
        reasons[kind] = json.loads(answer.body)["error"]["code"]
    assert reasons == {
        "expired": "token_expired",
        "future": "issued_in_future",
        "other_purpose": "bad_signature",
    }


def test_answer_before_the_body_closes_the_connection(world: World) -> None:
    """A refused body is never read, and never taken for the next request (smuggling)."""
    before = snapshot(world)
    smuggled = build(world, "DELETE", "/v1/sites/example.com", token=world.owner, close=False)
    data = declare(world, content_type="text/plain", body=smuggled, close=False)
    answer = exchange(world.port, data)
    assert_clean_refusal(world, answer, 415, "unsupported_media_type")
    assert answer.header("Connection") == "close"
    assert answer.closed
    assert snapshot(world) == before  # the DELETE inside the body never ran


def test_oversize_is_refused_from_the_headers_alone(world: World) -> None:
    """Only headers are sent: an answer at all proves the body was not awaited."""
    before = snapshot(world)
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        sock.sendall(declare(world, length=[str(10 * 1024 * 1024)], body=b"", close=False))
        started = time.monotonic()
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "closed without an answer"
            head += chunk
        assert head.startswith(b"HTTP/1.1 413 ")
        assert b"Connection: close" in head
        while sock.recv(4096):
            pass  # the server hangs up; a timeout here would fail the test
        assert time.monotonic() - started < 5
    assert snapshot(world) == before


def test_too_many_pending_pairings(world: World) -> None:
    asked = []
    pending = sum(
        1
        for p in world.daemon.request("GET", "/v1/pairings").json()["pairings"]
        if p["status"] == "pending"
    )
    for i in range(5 - pending):
        answer = exchange(world.port, pairing(world, name=f"Helper {i}"))
        assert answer.status == 202
        asked.append(json.loads(answer.body)["id"])
    before = snapshot(world)
    answer = exchange(world.port, pairing(world, name="One too many"))
    assert_clean_refusal(world, answer, 429, "too_many_pairings")
    assert snapshot(world) == before
    for pairing_id in asked:  # leave the world as it was for other tests
        rejected = world.daemon.request("POST", f"/v1/pairings/{pairing_id}/reject", json={})
        assert rejected.status_code == 200


def test_a_body_shorter_than_its_length_is_refused(world: World) -> None:
    before = snapshot(world)
    answer = exchange(world.port, declare(world, length=["500"], close=False), half_close=True)
    assert_clean_refusal(world, answer, 400, "truncated_body")
    assert snapshot(world) == before


# -- what the strict reader accepts: connections, pipelining, 100-continue ---------------------


def read_site(world: World, site: str, **kwargs: Any) -> bytes:
    return build(world, "GET", f"/v1/sites/{site}", token=world.owner, **kwargs)


def hangs_up(sock: socket.socket, rest: bytes) -> bool:
    """Whether the server closes after its answer (a socket timeout here fails the test)."""
    assert rest == b"", f"bytes after the answer: {rest[:200]!r}"
    return sock.recv(65536) == b""


def test_http_1_0_closes_after_the_answer(world: World) -> None:
    answer = exchange(world.port, read_site(world, "example.com", close=False, version="HTTP/1.0"))
    assert answer.status == 200
    assert answer.header("Connection") == "close"
    assert answer.closed


def test_http_1_0_with_keep_alive_stays_open(world: World) -> None:
    first = read_site(
        world,
        "example.com",
        close=False,
        version="HTTP/1.0",
        headers=(("Connection", "keep-alive"),),
    )
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        sock.sendall(first)
        answer, rest = read_answer(sock)
        assert (answer.status, answer.header("Connection")) == (200, None)
        sock.sendall(read_site(world, "quiet.example", version="HTTP/1.0"))
        answer, rest = read_answer(sock, rest)
        assert json.loads(answer.body)["site"] == "quiet.example"
        assert answer.header("Connection") == "close"
        assert hangs_up(sock, rest)


def test_http_1_1_stays_open_until_connection_close(world: World) -> None:
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        rest = b""
        for _ in range(3):
            sock.sendall(read_site(world, "example.com", close=False))
            answer, rest = read_answer(sock, rest)
            assert (answer.status, answer.header("Connection")) == (200, None)
        sock.sendall(read_site(world, "example.com", close=True))
        answer, rest = read_answer(sock, rest)
        assert (answer.status, answer.header("Connection")) == (200, "close")
        assert hangs_up(sock, rest)


def test_pipelined_requests_are_answered_in_order(world: World) -> None:
    sites = ["example.com", "quiet.example", "example.com", "quiet.example"]
    data = b"".join(read_site(world, site, close=False) for site in sites[:-1])
    data += read_site(world, sites[-1], close=True)
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        sock.sendall(data)  # all four in one write
        answered, rest = [], b""
        for _ in sites:
            answer, rest = read_answer(sock, rest)
            assert answer.status == 200, answer.body
            answered.append(json.loads(answer.body)["site"])
        assert answered == sites
        assert hangs_up(sock, rest)


def test_a_stray_crlf_before_a_request_is_skipped(world: World) -> None:
    answer = exchange(world.port, b"\r\n" + read_site(world, "example.com"))
    assert answer.status == 200


def test_one_hundred_header_lines_are_accepted(world: World) -> None:
    """The limit is 100 lines (too_many_headers sends more); Host and Connection count."""
    extra = tuple((f"X-{i}", "x") for i in range(97))
    request = read_site(world, "example.com", headers=extra)
    assert request.count(b"\r\n") == 1 + 100 + 1  # request line, headers, empty line
    assert exchange(world.port, request).status == 200


def test_expect_100_continue_is_answered_once_the_guards_pass(world: World) -> None:
    before = snapshot(world)
    request = declare(
        world, site="quiet.example", body={"sessions": []}, headers=(("Expect", "100-continue"),)
    )
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        sock.sendall(head + b"\r\n\r\n")
        interim, rest = read_answer(sock)
        assert (interim.status, interim.headers, rest) == (100, [], b"")
        sock.sendall(body)
        answer, rest = read_answer(sock, rest)
        assert answer.status == 200, answer.body
        assert json.loads(answer.body)["site"] == "quiet.example"
        assert hangs_up(sock, rest)
    assert snapshot(world) == before  # the same declaration again


def test_expect_100_continue_refused_by_a_guard_gets_no_continue(world: World) -> None:
    """The refusal comes instead of the 100, and the body is never read."""
    before = snapshot(world)
    request = declare(world, content_type="text/plain", headers=(("Expect", "100-continue"),))
    head, _, _ = request.partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", world.port), timeout=5) as sock:
        sock.sendall(head + b"\r\n\r\n")
        answer, rest = read_answer(sock)
        assert_clean_refusal(world, answer, 415, "unsupported_media_type")
        assert answer.header("Connection") == "close"
        assert hangs_up(sock, rest)
    assert snapshot(world) == before


def test_other_local_users_can_read_nothing(tmp_path: Path) -> None:
    """With a permissive umask, the daemon still keeps its home to itself."""
    home = tmp_path / "fresh" / "home"  # the daemon creates it
    home.parent.mkdir()
    daemon = DaemonProcess(home, daemon_env(home))
    previous = os.umask(0o022)
    try:
        daemon.start()
    finally:
        os.umask(previous)
    try:
        assert daemon.request("GET", "/v1/sites").status_code == 200
        modes = {
            p.relative_to(home).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in home.rglob("*")
        }
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert modes["logs"] == 0o700
        for name in ("endpoint.json", "secrets.json", "sessionmgr.sqlite3", "daemon.lock"):
            assert modes[name] == 0o600, name
        for name, mode in modes.items():
            assert mode & 0o077 == 0, (name, oct(mode))
        log = (home / "logs" / "sessionmgr.log").read_text(encoding="utf-8")
        assert daemon.token not in log
    finally:
        daemon.stop()
