"""The native-messaging host's logic against a fake daemon, and the real process's pipes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from sessionmgr.events.webhooks import new_webhook_secret, webhook_headers
from sessionmgr.helper.daemon_client import DaemonError, DaemonUnavailable, Endpoint
from sessionmgr.helper.framing import FrameReader, FrameWriter, encode_message
from sessionmgr.helper.host import Credentials, Helper, declaration_body
from sessionmgr.security.secrets import MemorySecretStore


class FakeDaemon:
    """Stands in for DaemonClient: records calls, answers from a small model."""

    def __init__(self) -> None:
        self.up = True
        self.pid = 1
        self.calls: list[tuple[str, Any]] = []
        self.sites: dict[str, dict[str, Any]] = {}
        self.pairing_status = "pending"
        self.secret = new_webhook_secret()
        self.valid_token = "tok-1"
        self.events_url: str | None = None
        self.remembered: dict[str, str] = {}  # site -> account with "stay signed in"

    def _check(self) -> None:
        if not self.up:
            raise DaemonUnavailable("down")

    def discover(self) -> Endpoint:
        self._check()
        return Endpoint(url="http://127.0.0.1:1", pid=self.pid)

    def create_pairing(self, name: str, events_url: str, origin: str | None) -> dict[str, Any]:
        self._check()
        self.calls.append(("pair", (name, origin)))
        self.events_url = events_url
        return {"id": "p1", "code": "123-456", "poll_secret": "poll-secret"}

    def poll_pairing(self, pairing_id: str, poll_secret: str) -> dict[str, Any]:
        self._check()
        assert poll_secret == "poll-secret"
        self.calls.append(("poll", pairing_id))
        if self.pairing_status == "approved":
            return {"status": "approved", "helper_id": "h1", "token": self.valid_token,
                    "webhook_secret": self.secret}
        return {"status": self.pairing_status}

    def update_events_url(self, helper_id: str, token: str, events_url: str) -> None:
        self._check()
        if token != self.valid_token:
            raise DaemonError(401, "unauthorized", "bad token")
        self.calls.append(("patch", events_url))
        self.events_url = events_url

    def put_declaration(self, site: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if token != self.valid_token:
            raise DaemonError(401, "unauthorized", "bad token")
        self.calls.append(("put", (site, json.loads(json.dumps(body)))))
        state = {"site": site, "sessions": body["sessions"], "pending": None}
        self.sites[site] = state
        return state

    def get_site(self, site: str, token: str) -> dict[str, Any]:
        self._check()
        self.calls.append(("get", site))
        if site not in self.sites:
            raise DaemonError(404, "not_found", "never seen")
        return self.sites[site]

    def put_focus(self, site: str | None, token: str) -> dict[str, Any]:
        self._check()
        if token != self.valid_token:
            raise DaemonError(401, "unauthorized", "bad token")
        self.calls.append(("focus", site))
        return {"site": site}

    def silent_login(self, site: str, token: str, nonce: str | None) -> dict[str, Any]:
        self._check()
        if token != self.valid_token:
            raise DaemonError(401, "unauthorized", "bad token")
        self.calls.append(("silent", (site, nonce)))
        remembered = self.remembered.get(site)
        if remembered is None:
            return {"id": None, "assertion": None}
        return {"id": remembered, "assertion": f"assertion-for-{remembered}-{nonce}"}

    def puts(self) -> list[tuple[str, dict[str, Any]]]:
        return [c[1] for c in self.calls if c[0] == "put"]

    def close(self) -> None:
        pass


class Harness:
    def __init__(self, daemon: FakeDaemon, store: MemorySecretStore | None = None) -> None:
        self.daemon = daemon
        self.out = io.BytesIO()
        self.store = store or MemorySecretStore()
        self.now = 0.0
        self.helper = Helper(
            FrameWriter(self.out), daemon,  # type: ignore[arg-type]
            Credentials(self.store, "scope"), name="Chromium on test",
            origin="chrome-extension://abc", clock=lambda: self.now,
        )
        self.helper.events_url = "http://127.0.0.1:9/v1/events"
        self.helper._load_credentials()

    def message(self, **fields: Any) -> None:
        self.helper._handle("message", fields)

    def tick(self, advance: float = 0.0) -> None:
        self.now += advance
        self.helper._tick()

    def sent(self) -> list[dict[str, Any]]:
        return list(FrameReader(io.BytesIO(self.out.getvalue())))

    def statuses(self) -> list[dict[str, Any]]:
        return [m for m in self.sent() if m["type"] == "status"]


def paired(daemon: FakeDaemon) -> Harness:
    store = MemorySecretStore()
    Credentials(store, "scope").save(
        {"helper_id": "h1", "token": daemon.valid_token, "webhook_secret": daemon.secret})
    return Harness(daemon, store)


def decl(site: str = "example.com", sessions: Any = None, **extra: Any) -> dict[str, Any]:
    return {"type": "declaration", "site": site, "sessions": sessions, "cookies": ["SID"],
            "focused": True, **extra}


ALICE = [{"email": "alice@example.com"}]


def test_pairs_once_then_sends_declarations() -> None:
    daemon = FakeDaemon()
    h = Harness(daemon)
    h.message(**decl(sessions=ALICE))  # kept until paired
    h.tick()
    assert ("pair", ("Chromium on test", "chrome-extension://abc")) in daemon.calls
    assert h.statuses()[-1]["pairing"] == {"status": "pending", "code": "123-456"}
    assert not h.statuses()[-1]["paired"]
    assert daemon.puts() == []
    h.tick(0.6)
    assert ("poll", "p1") in daemon.calls
    daemon.pairing_status = "approved"
    h.tick(0.6)
    assert h.statuses()[-1]["paired"] is True
    assert h.store.get("helper:scope:token") == daemon.valid_token
    assert h.store.get("helper:scope:pairing") is None
    h.tick()
    assert daemon.puts() == [("example.com", {"sessions": ALICE, "cookies": ["SID"],
                                               "focused": True})]
    assert h.sent()[-1] == {"type": "site_state", "site": "example.com",
                            "state": daemon.sites["example.com"], "seq": None}
    # Only one pairing request, however long it took.
    assert [c for c in daemon.calls if c[0] == "pair"] == [("pair", ("Chromium on test",
                                                                     "chrome-extension://abc"))]


def test_rejected_pairing_waits_for_the_popup() -> None:
    daemon = FakeDaemon()
    h = Harness(daemon)
    h.tick()
    daemon.pairing_status = "rejected"
    h.tick(1)
    assert h.statuses()[-1]["pairing"]["status"] == "rejected"
    h.tick(5)
    assert len([c for c in daemon.calls if c[0] == "pair"]) == 1
    h.message(type="pair")
    h.tick(1)
    assert len([c for c in daemon.calls if c[0] == "pair"]) == 2


def test_pending_pairing_survives_a_host_respawn() -> None:
    daemon = FakeDaemon()
    first = Harness(daemon)
    first.tick()
    second = Harness(daemon, first.store)
    second.tick(1)
    assert len([c for c in daemon.calls if c[0] == "pair"]) == 1
    assert [c for c in daemon.calls if c[0] == "poll"]


def test_paired_start_updates_events_url_and_keeps_state_across_daemon_restart() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.tick()
    assert ("patch", h.helper.events_url) in daemon.calls
    h.message(**decl(sessions=ALICE))
    h.tick()
    assert len(daemon.puts()) == 1
    daemon.up = False
    h.tick(2)
    assert h.statuses()[-1]["daemon"] == "down"
    h.message(**decl(sessions=[]))  # declared while the daemon is away
    h.tick(2)
    assert len(daemon.puts()) == 1
    assert h.statuses()[-1]["daemon"] == "down"
    daemon.up, daemon.pid = True, 2
    daemon.calls.clear()
    h.tick(3)
    assert h.statuses()[-1]["daemon"] == "up"
    assert daemon.calls[0] == ("patch", h.helper.events_url)
    assert daemon.puts() == [("example.com", {"sessions": [], "cookies": ["SID"],
                                               "focused": True})]


def test_daemon_restart_resends_what_a_fresh_daemon_lacks() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.message(**decl(sessions=ALICE))
    h.tick()
    daemon.sites.clear()  # a daemon with a new, empty home
    daemon.pid = 3
    daemon.calls.clear()
    h.tick(2)
    assert ("get", "example.com") in daemon.calls
    assert daemon.puts() == [("example.com", {"sessions": ALICE, "cookies": ["SID"],
                                               "focused": True})]


def test_replay_and_focus_never_clear_a_pending_action() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.message(**decl(sessions=ALICE))
    h.tick()
    daemon.sites["example.com"]["pending"] = {"type": "login"}
    h.message(**decl(sessions=ALICE, replay=True))
    h.message(type="focus", site="example.com")
    h.tick()
    assert len(daemon.puts()) == 1  # neither re-sent the declaration
    assert ("focus", "example.com") in daemon.calls  # focus went on its own
    assert not h.helper.dirty
    # The page's own redeclaration always goes through.
    h.message(**decl(sessions=[{"email": "bob@example.com"}]))
    h.tick()
    assert len(daemon.puts()) == 2


def test_site_state_echoes_the_extensions_sequence_number() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.message(**decl(sessions=ALICE, seq=41))
    h.message(**decl(sessions=ALICE, seq=42))
    h.tick()
    states = [m for m in h.sent() if m["type"] == "site_state"]
    assert [m["seq"] for m in states] == [42]
    assert "seq" not in daemon.puts()[0][1]


def test_focus_is_reported_with_put_focus_not_a_redeclaration() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.message(**decl("a.example", ALICE))
    h.message(**decl("b.example", ALICE))
    h.tick()
    puts = len(daemon.puts())
    h.message(type="focus", site="a.example")
    h.tick()
    assert len(daemon.puts()) == puts
    assert [c for c in daemon.calls if c[0] == "focus"] == [("focus", "a.example")]
    # Later replays carry the flag that matches.
    assert h.helper.latest["a.example"]["focused"] is True
    assert h.helper.latest["b.example"]["focused"] is False
    h.message(type="focus", site=None)  # a tab of no known site
    h.message(type="focus", site="b.example")  # only the latest is worth sending
    h.tick()
    assert [c for c in daemon.calls if c[0] == "focus"][-1] == ("focus", "b.example")
    assert h.helper.focus is None


def test_focus_waits_for_the_daemon_and_is_sent_when_it_returns() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.tick()
    daemon.up = False
    h.message(type="focus", site="a.example")
    h.tick()
    assert h.helper.focus == ("a.example",)
    daemon.up = True
    h.tick(5)
    assert ("focus", "a.example") in daemon.calls and h.helper.focus is None


@pytest.mark.parametrize("bad", [5, "", "x" * 254, ["a"]])
def test_malformed_focus_is_ignored(bad: object) -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.message(type="focus", site=bad)
    h.tick()
    assert not [c for c in daemon.calls if c[0] == "focus"]


def silent_results(h: Harness) -> list[dict[str, Any]]:
    return [m for m in h.sent() if m["type"] == "silent-result"]


def test_silent_login_asks_the_daemon_and_answers_the_tab() -> None:
    daemon = FakeDaemon()
    daemon.remembered["example.com"] = "alice@example.com"
    h = paired(daemon)
    h.tick()
    h.message(type="silent-login", site="example.com", nonce="n-1", rid=7)
    h.message(type="silent-login", site="other.example", nonce=None, rid=8)
    assert ("silent", ("example.com", "n-1")) in daemon.calls
    assert silent_results(h) == [
        {"type": "silent-result", "rid": 7, "id": "alice@example.com",
         "assertion": "assertion-for-alice@example.com-n-1"},
        {"type": "silent-result", "rid": 8, "id": None, "assertion": None},
    ]


def test_silent_login_finds_the_daemon_right_after_start() -> None:
    daemon = FakeDaemon()
    daemon.remembered["example.com"] = "alice@example.com"
    h = paired(daemon)  # no tick yet: the host has not looked for the daemon
    h.message(type="silent-login", site="example.com", nonce="n", rid=1)
    assert silent_results(h)[0]["id"] == "alice@example.com"


@pytest.mark.parametrize("fields", [
    {"site": 5, "nonce": "n"}, {"site": "", "nonce": "n"}, {"site": "a.example", "nonce": 5},
    {"site": "a.example", "nonce": ""}, {"site": "a.example", "nonce": "x" * 257},
])
def test_silent_login_with_bad_fields_answers_null_without_calling(fields: dict[str, Any]) -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.tick()
    h.message(type="silent-login", rid=3, **fields)
    assert not [c for c in daemon.calls if c[0] == "silent"]
    assert silent_results(h) == [{"type": "silent-result", "rid": 3, "id": None,
                                  "assertion": None, "error": "bad_request"}]


def test_silent_login_unpaired_or_daemon_down_answers_null() -> None:
    daemon = FakeDaemon()
    h = Harness(daemon)  # not paired
    h.message(type="silent-login", site="example.com", nonce="n", rid=1)
    daemon.up = False
    p = paired(daemon)
    p.message(type="silent-login", site="example.com", nonce="n", rid=2)
    assert silent_results(h)[0]["error"] == "not_paired"
    assert silent_results(p)[0]["error"] == "daemon_down"
    assert not [c for c in daemon.calls if c[0] == "silent"]


def test_revoked_token_asks_for_pairing_again() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.tick()
    daemon.valid_token = "another"
    h.message(**decl(sessions=ALICE))
    h.tick()
    assert h.statuses()[-1]["paired"] is False
    assert h.store.get("helper:scope:token") is None


def test_coalesces_a_burst_of_declarations() -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.tick()
    for i in range(5):
        h.message(**decl(sessions=[{"email": f"user{i}"}]))
    h.tick()
    assert [p[1]["sessions"] for p in daemon.puts()] == [[{"email": "user4"}]]


def test_login_status_marker_is_passed_on() -> None:
    _site, body = declaration_body(decl(sessions=[{"email": "(signed in)"}], api="login-status"))
    assert body["api"] == "login-status"
    assert declaration_body(decl(api="other"))[1].get("api") is None  # type: ignore[index]


@pytest.mark.parametrize("bad", [
    {"site": 5}, {"site": ""}, {"sessions": "x"}, {"cookies": [1]}, {"focused": "yes"},
    {"site": "x" * 300},
])
def test_malformed_declarations_are_dropped(bad: dict[str, Any]) -> None:
    assert declaration_body({**decl(sessions=ALICE), **bad}) is None


# ---- webhooks through the real events server


@pytest.fixture
def served() -> Any:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.helper.start_server()
    yield h
    h.helper.stop()


def post_event(h: Harness, event: dict[str, Any], *, secret: str | None = None,
               host: str | None = None) -> requests.Response:
    body = json.dumps(event).encode()
    headers = webhook_headers([secret or h.daemon.secret], event["id"], int(time.time()), body)
    if host:
        headers["Host"] = host
    with requests.Session() as s:
        s.trust_env = False
        return s.post(h.helper.events_url, data=body, headers=headers, timeout=5)


EVENT = {"id": "0f8c6e0e-1111-4a4a-9a9a-000000000001", "type": "login", "site": "example.com",
         "account": "bob@example.com", "previous": "alice@example.com", "persistent": False,
         "created_at": "2024-01-01T00:00:00Z"}


def test_webhook_is_verified_relayed_then_acknowledged(served: Harness) -> None:
    r = post_event(served, EVENT)
    assert r.status_code == 200
    assert {"type": "event", "event": EVENT} in served.sent()
    again = post_event(served, EVENT)  # a retry of the same delivery
    assert again.status_code == 200
    assert sum(1 for m in served.sent() if m["type"] == "event") == 1


def test_webhook_with_a_wrong_signature_is_refused(served: Harness) -> None:
    r = post_event(served, {**EVENT, "id": "other"}, secret=new_webhook_secret())
    assert r.status_code == 401
    assert not [m for m in served.sent() if m["type"] == "event"]


def test_webhook_with_a_foreign_host_header_is_refused(served: Harness) -> None:
    r = post_event(served, EVENT, host="evil.example:80")
    assert r.status_code == 421


def test_unpaired_helper_refuses_webhooks() -> None:
    h = Harness(FakeDaemon())
    h.helper.start_server()
    try:
        assert post_event(h, EVENT).status_code == 503
    finally:
        h.helper.stop()


# ---- the real process


def run_host(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SESSIONMGR_HOME": str(tmp_path / "home"),
           "SESSIONMGR_SECRETS": "memory"}
    return subprocess.Popen(
        [sys.executable, "-m", "sessionmgr.helper", "chrome-extension://abc/"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )


def read_one(proc: subprocess.Popen[bytes], timeout: float = 10) -> dict[str, Any] | None:
    result: list[dict[str, Any] | None] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: result.append(FrameReader(proc.stdout).read()))
    reader.start()
    reader.join(timeout)
    assert result, "the host sent nothing"
    return result[0]


def test_process_reports_no_daemon_survives_garbage_and_exits_on_eof(tmp_path: Path) -> None:
    proc = run_host(tmp_path)
    try:
        assert proc.stdin is not None
        first = read_one(proc)
        assert first is not None and first["type"] == "status"
        status = first if first["daemon"] == "down" else read_one(proc)
        assert status is not None and status["daemon"] == "down"
        assert status["paired"] is False
        proc.stdin.write(b"\x03\x00\x00\x00{x}" if sys.byteorder == "little"
                         else b"\x00\x00\x00\x03{x}")
        proc.stdin.write(encode_message({"type": "declaration", "site": "example.com",
                                         "sessions": [], "cookies": [], "focused": False}))
        proc.stdin.write(encode_message({"type": "hello", "version": "0"}))
        proc.stdin.flush()
        again = read_one(proc)
        assert again is not None and again["type"] == "status"  # hello forces one
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in stderr
        log_text = (tmp_path / "home" / "logs" / "helper.log").read_text()
        assert "malformed" in log_text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream and not stream.closed:
                stream.close()



def test_parse_caller() -> None:
    from sessionmgr.helper.host import parse_caller

    assert parse_caller(["chrome-extension://abc/"]) == (
        "chrome-extension://abc", "Chromium", "chrome-extension://abc")
    assert parse_caller(["chrome-extension://abc/", "--parent-window=0"])[1] == "Chromium"
    assert parse_caller(["/path/org.sessionmgr.helper.json", "helper@sessionmgr.org"]) == (
        None, "Firefox", "helper@sessionmgr.org")
    assert parse_caller([]) == (None, "Browser", "unknown")


@pytest.mark.parametrize("message", [
    {"type": "focus", "site": ["not", "a", "site"]},
    {"type": "declaration", "site": "x", "sessions": [], "cookies": [], "focused": False,
     "seq": {"odd": 1}},
    {"type": "hello", "extension_id": None, "version": {"a": 1}},
    {"type": "event_result", "id": [1], "delivered": "maybe"},
    {"type": None},
    {},
])
def test_odd_messages_never_stop_the_worker(message: dict[str, Any]) -> None:
    daemon = FakeDaemon()
    h = paired(daemon)
    h.helper._handle_safely("message", message)
    h.message(**decl(sessions=ALICE))
    h.tick()
    assert daemon.puts()[-1][0] == "example.com"
