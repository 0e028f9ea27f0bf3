"""The v1 contract (DESIGN.md section 3) against a real daemon process."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import DaemonProcess, daemon_env, wait_for

TWO = {
    "sessions": [
        {"email": "bear@example.com", "bound_to": {"type": "cookie", "cookie_name": "SID"}},
        {"email": "bob@example.com", "status": "passive"},
    ],
    "cookies": ["SID"],
    "focused": True,
}


def declare(
    daemon: DaemonProcess, site: str, body: dict[str, Any], token: str | None = "owner"
) -> Any:
    response = daemon.request("PUT", f"/v1/sites/{site}/declaration", json=body, token=token)
    assert response.status_code == 200, response.text
    return response.json()


def test_health_needs_no_token(daemon: DaemonProcess) -> None:
    response = daemon.request("GET", "/v1/health", token=None)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "access-control-allow-origin" not in {k.lower() for k in response.headers}


def test_endpoint_file_is_private_and_points_at_loopback(daemon: DaemonProcess) -> None:
    endpoint = daemon.home / "endpoint.json"
    assert stat.S_IMODE(endpoint.stat().st_mode) == 0o600
    info = json.loads(endpoint.read_text())
    assert info["url"].startswith("http://127.0.0.1:")
    assert daemon.process is not None and info["pid"] == daemon.process.pid


def test_listens_on_loopback_only(daemon: DaemonProcess) -> None:
    # The port is open on 127.0.0.1 and on no other local address.
    hostname_ip = socket.gethostbyname(socket.gethostname())
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=2):
        pass
    if not hostname_ip.startswith("127."):
        probe = socket.socket()
        try:
            probe.settimeout(2)
            assert probe.connect_ex((hostname_ip, daemon.port)) != 0
        finally:
            probe.close()


def test_declare_then_read_back(daemon: DaemonProcess) -> None:
    state = declare(daemon, "Example.COM.", TWO)
    assert state["site"] == "example.com"
    assert state["indicator"] == "bear@example.com"
    assert state["binding"] == {"type": "cookie", "cookie_name": "SID"}
    assert state["source"] == "declared"
    assert [s["status"] for s in state["sessions"]] == ["active", "passive"]
    assert daemon.request("GET", "/v1/sites/example.com").json() == state
    declare(daemon, "a.example", {"sessions": []})
    sites = daemon.request("GET", "/v1/sites").json()["sites"]
    assert [s["site"] for s in sites] == ["a.example", "example.com"]


def test_unknown_site_is_404(daemon: DaemonProcess) -> None:
    response = daemon.request("GET", "/v1/sites/never.example")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_site"
    assert daemon.request("POST", "/v1/sites/never.example/logout", json={}).status_code == 404


def test_switch_is_pending_until_the_site_redeclares(daemon: DaemonProcess) -> None:
    declare(daemon, "example.com", TWO)
    response = daemon.request("POST", "/v1/sites/example.com/login", json={"id": "bob@example.com"})
    assert response.status_code == 202
    event = response.json()["event"]
    assert (event["type"], event["account"], event["previous"]) == (
        "login",
        "bob@example.com",
        "bear@example.com",
    )
    state = daemon.request("GET", "/v1/sites/example.com").json()
    assert state["pending"]["id"] == event["id"]
    assert state["active"] == "bear@example.com"
    switched = declare(
        daemon,
        "example.com",
        {
            "sessions": [
                {"email": "bob@example.com"},
                {"email": "bear@example.com", "status": "passive"},
            ]
        },
    )
    assert switched["pending"] is None and switched["active"] == "bob@example.com"
    events = daemon.request("GET", "/v1/events").json()["events"]
    assert events[0]["id"] == event["id"] and events[0]["outcome"] == "confirmed"


def test_login_conflicts_are_409(daemon: DaemonProcess) -> None:
    declare(daemon, "example.com", TWO)
    cases = [
        ({"id": "nobody@example.com"}, "unknown_account"),
        ({"id": "bear@example.com"}, "already_active"),
        ({"id": None}, "already_signed_in"),
    ]
    for body, code in cases:
        response = daemon.request("POST", "/v1/sites/example.com/login", json=body)
        assert response.status_code == 409, body
        assert response.json()["error"]["code"] == code
    declare(daemon, "example.com", {"sessions": []})
    response = daemon.request("POST", "/v1/sites/example.com/logout", json={})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_signed_in"


def test_logout_all_logs_out_exactly_the_signed_in_sites(daemon: DaemonProcess) -> None:
    declare(daemon, "a.example", {"sessions": [{"email": "a"}]})
    declare(daemon, "b.example", {"sessions": [{"email": "b", "status": "passive"}]})
    declare(daemon, "c.example", {"sessions": [{"email": "c"}]})
    response = daemon.request("POST", "/v1/logout-all", json={})
    assert response.status_code == 202
    events = response.json()["events"]
    assert sorted((e["site"], e["account"], e["type"]) for e in events) == [
        ("a.example", "a", "logout"),
        ("c.example", "c", "logout"),
    ]
    assert all(e["previous"] is None for e in events)


def test_forget_site(daemon: DaemonProcess) -> None:
    declare(daemon, "example.com", TWO)
    response = daemon.request("DELETE", "/v1/sites/example.com")
    assert response.status_code == 204 and response.content == b""
    assert daemon.request("GET", "/v1/sites/example.com").status_code == 404


def test_events_filter_and_limit(daemon: DaemonProcess) -> None:
    declare(daemon, "a.example", {"sessions": [{"email": "a"}]})
    declare(daemon, "b.example", {"sessions": [{"email": "b"}]})
    first = daemon.request("POST", "/v1/sites/a.example/logout", json={}).json()["event"]
    second = daemon.request("POST", "/v1/sites/b.example/logout", json={}).json()["event"]
    listed = daemon.request("GET", "/v1/events").json()["events"]
    assert [e["id"] for e in listed] == [second["id"], first["id"]]
    assert all(e["deliveries"] == [] for e in listed)
    only_a = daemon.request("GET", "/v1/events", params={"site": "A.example"}).json()["events"]
    assert [e["id"] for e in only_a] == [first["id"]]
    assert len(daemon.request("GET", "/v1/events", params={"limit": "1"}).json()["events"]) == 1
    assert daemon.request("GET", "/v1/events", params={"limit": "0"}).status_code == 400


def pair(daemon: DaemonProcess, name: str = "Test helper", port: int = 9) -> dict[str, Any]:
    request = daemon.request(
        "POST",
        "/v1/pairings",
        token=None,
        json={"name": name, "events_url": f"http://127.0.0.1:{port}/events"},
    )
    assert request.status_code == 202, request.text
    ticket = request.json()
    poll = daemon.request("GET", f"/v1/pairings/{ticket['id']}", token=ticket["poll_secret"])
    assert poll.json() == {"status": "pending"}
    listed = daemon.request("GET", "/v1/pairings").json()["pairings"]
    assert listed[0]["id"] == ticket["id"] and listed[0]["code"] == ticket["code"]
    assert (
        daemon.request("POST", f"/v1/pairings/{ticket['id']}/approve", json={}).status_code == 200
    )
    approved = daemon.request(
        "GET", f"/v1/pairings/{ticket['id']}", token=ticket["poll_secret"]
    ).json()
    assert approved["status"] == "approved"
    again = daemon.request(
        "GET", f"/v1/pairings/{ticket['id']}", token=ticket["poll_secret"]
    ).json()
    assert "token" not in again and "webhook_secret" not in again, "secrets are handed out once"
    return approved


def test_pairing_flow_and_helper_scope(daemon: DaemonProcess) -> None:
    helper = pair(daemon)
    assert helper["webhook_secret"].startswith("whsec_")
    token = helper["token"]
    state = declare(daemon, "example.com", TWO, token=token)
    assert state["site"] == "example.com"
    assert daemon.request("GET", "/v1/sites", token=token).status_code == 200
    for method, path in [
        ("POST", "/v1/sites/example.com/logout"),
        ("POST", "/v1/logout-all"),
        ("GET", "/v1/events"),
        ("GET", "/v1/helpers"),
        ("DELETE", "/v1/sites/example.com"),
    ]:
        response = daemon.request(method, path, token=token, json={} if method == "POST" else None)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "owner_only"
    moved = daemon.request(
        "PATCH",
        f"/v1/helpers/{helper['helper_id']}",
        token=token,
        json={"events_url": "http://127.0.0.1:10/e"},
    )
    assert moved.status_code == 200
    helpers = daemon.request("GET", "/v1/helpers").json()["helpers"]
    assert helpers[0]["events_url"] == "http://127.0.0.1:10/e"
    assert daemon.request("DELETE", f"/v1/helpers/{helper['helper_id']}").status_code == 204
    refused = daemon.request("GET", "/v1/sites", token=token)
    assert refused.status_code == 401


def test_events_go_to_the_helpers_that_declared_the_site(daemon: DaemonProcess) -> None:
    first, second = pair(daemon, "first"), pair(daemon, "second")
    declare(daemon, "a.example", {"sessions": [{"email": "a"}]}, token=first["token"])
    declare(daemon, "b.example", {"sessions": [{"email": "b"}]}, token="owner")
    daemon.request("POST", "/v1/sites/a.example/logout", json={})
    daemon.request("POST", "/v1/sites/b.example/logout", json={})
    events = {e["site"]: e for e in daemon.request("GET", "/v1/events").json()["events"]}
    assert {d["helper_id"] for d in events["a.example"]["deliveries"]} == {first["helper_id"]}
    assert {d["helper_id"] for d in events["b.example"]["deliveries"]} == {
        first["helper_id"],
        second["helper_id"],
    }


def test_status_reports_the_file_fallback(daemon: DaemonProcess) -> None:
    status = daemon.request("GET", "/v1/status").json()
    assert status["secrets"] == "file (no OS keyring)"
    assert status["url"] == daemon.url


def test_a_second_daemon_on_the_same_home_is_refused(daemon: DaemonProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "sessionmgr", "serve", "--port", "0"],
        env=daemon_env(daemon.home),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "already running" in second.stderr and str(daemon.port) in second.stderr
    assert daemon.request("GET", "/v1/health", token=None).status_code == 200


def test_sigterm_exits_cleanly_and_removes_the_endpoint(daemon: DaemonProcess) -> None:
    declare(daemon, "example.com", TWO)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert not (daemon.home / "endpoint.json").exists()


def test_sigint_with_an_idle_keep_alive_connection_exits_within_5_s(daemon: DaemonProcess) -> None:
    assert (
        daemon.request("GET", "/v1/health", token=None).status_code == 200
    )  # keeps the connection
    started = time.monotonic()
    assert daemon.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < 5


def test_state_survives_a_restart(daemon_factory: Any) -> None:
    first = daemon_factory()
    declare(first, "example.com", TWO)
    first.stop()
    second = daemon_factory(first.home)
    state = second.request("GET", "/v1/sites/example.com").json()
    assert state["active"] == "bear@example.com"
    # The previous run's owner token stops working; the new one does.
    assert second.request("GET", "/v1/sites", token=first.token).status_code == 401


def test_pending_times_out_as_no_response(daemon_factory: Any) -> None:
    daemon = daemon_factory(start=False)
    (daemon.home / "settings.json").write_text(json.dumps({"pending_timeout": 1.0}))
    daemon.start()
    declare(daemon, "example.com", TWO)
    event = daemon.request("POST", "/v1/sites/example.com/logout", json={}).json()["event"]

    def timed_out() -> Any:
        state = daemon.request("GET", "/v1/sites/example.com").json()
        return state if state["pending"] is None else None

    state = wait_for(timed_out, timeout=5, what="the pending logout to time out")
    assert state["attention"]["code"] == "no_response"
    assert state["attention"]["event_id"] == event["id"]
    events = daemon.request("GET", "/v1/events").json()["events"]
    assert events[0]["outcome"] == "no_response"


def test_stay_signed_in_then_silent_login_and_verify(daemon: DaemonProcess) -> None:
    from sessionmgr.security.assertions import verify_assertion

    declare(
        daemon, "example.com", {"sessions": [{"email": "bear@example.com", "status": "passive"}]}
    )
    assert daemon.request("POST", "/v1/sites/example.com/silent-login", json={}).json() == {
        "id": None,
        "assertion": None,
    }
    event = daemon.request(
        "POST", "/v1/sites/example.com/login", json={"id": "bear@example.com", "persistent": True}
    ).json()["event"]
    assert event["persistent"] is True and event["public_key"]
    state = declare(daemon, "example.com", {"sessions": [{"email": "bear@example.com"}]})
    assert state["persistent"]["id"] == "bear@example.com"

    answer = daemon.request(
        "POST", "/v1/sites/example.com/silent-login", json={"nonce": "n-1"}
    ).json()
    assert answer["id"] == "bear@example.com"
    # A remote site checks it with nothing but the public key from the login event.
    verified = verify_assertion(
        answer["assertion"],
        audience="example.com",
        public_key=event["public_key"],
        now=time.time(),
        nonce="n-1",
    )
    assert verified.email == "bear@example.com"
    local = daemon.request(
        "POST", "/v1/verify", json={"assertion": answer["assertion"], "audience": "example.com"}
    ).json()
    assert local["status"] == "okay" and local["email"] == "bear@example.com"
    assert local["audience"] == "example.com" and local["issuer"] == "sessionmgr"
    wrong = daemon.request(
        "POST", "/v1/verify", json={"assertion": answer["assertion"], "audience": "evil.example"}
    ).json()
    assert wrong["status"] == "failure"
    garbage = daemon.request(
        "POST", "/v1/verify", json={"assertion": "x.y", "audience": "example.com"}
    )
    assert garbage.status_code == 200 and garbage.json()["status"] == "failure"

    assert daemon.request("DELETE", "/v1/sites/example.com/persistent").status_code == 204
    assert (
        daemon.request("POST", "/v1/sites/example.com/silent-login", json={}).json()["id"] is None
    )


def test_focus_moves_without_touching_a_pending_action(daemon: DaemonProcess) -> None:
    declare(daemon, "example.com", TWO)
    declare(daemon, "other.example", {"sessions": [], "focused": True})
    daemon.request("POST", "/v1/sites/example.com/logout", json={})
    moved = daemon.request("PUT", "/v1/focus", json={"site": "Example.com"})
    assert moved.json() == {"site": "example.com"}
    state = daemon.request("GET", "/v1/sites/example.com").json()
    assert state["focused"] is True and state["pending"] is not None
    assert daemon.request("GET", "/v1/sites/other.example").json()["focused"] is False
    assert daemon.request("PUT", "/v1/focus", json={"site": None}).json() == {"site": None}
    assert daemon.request("PUT", "/v1/focus", json={}).status_code == 400
    assert daemon.request("PUT", "/v1/focus", json={"site": "a..b"}).status_code == 400


def _context_switches(pid: int) -> int:
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def test_an_idle_daemon_does_not_wake_up(daemon: DaemonProcess) -> None:
    """No polling loop anywhere: the server, dispatcher and reaper all sleep until needed."""
    assert daemon.process is not None
    declare(daemon, "example.com", TWO)
    daemon.request("POST", "/v1/sites/example.com/logout", json={})  # something pending
    daemon.session.close()  # no keep-alive connection left to the daemon
    before = _context_switches(daemon.process.pid)
    time.sleep(2.5)  # the window we watch, not a wait for something to happen
    assert _context_switches(daemon.process.pid) - before <= 2
