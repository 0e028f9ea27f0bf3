"""Login/logout events from a real daemon to real loopback helper endpoints."""

from __future__ import annotations

import json
from typing import Any

from standardwebhooks import Webhook

from tests.conftest import DaemonProcess, wait_for
from tests.receivers import Receiver, Reply, unused_port

TWO = {
    "sessions": [{"email": "bear@example.com"}, {"email": "bob@example.com", "status": "passive"}]
}


def pair(daemon: DaemonProcess, events_url: str) -> dict[str, Any]:
    ticket = daemon.request(
        "POST", "/v1/pairings", token=None, json={"name": "test helper", "events_url": events_url}
    ).json()
    daemon.request("POST", f"/v1/pairings/{ticket['id']}/approve", json={})
    return daemon.request("GET", f"/v1/pairings/{ticket['id']}", token=ticket["poll_secret"]).json()


def deliveries(daemon: DaemonProcess, event_id: str) -> list[dict[str, Any]]:
    events = daemon.request("GET", "/v1/events").json()["events"]
    return next(e["deliveries"] for e in events if e["id"] == event_id)


def test_a_switch_arrives_signed_as_a_standard_webhook(daemon: DaemonProcess) -> None:
    with Receiver() as receiver:
        helper = pair(daemon, receiver.url)
        daemon.request("PUT", "/v1/sites/example.com/declaration", json=TWO, token=helper["token"])
        event = daemon.request(
            "POST",
            "/v1/sites/example.com/login",
            json={"id": "bob@example.com", "persistent": False},
        ).json()["event"]
        [received] = receiver.wait_for(1)
        payload = Webhook(helper["webhook_secret"]).verify(received.body, received.headers)
        assert payload == {k: v for k, v in event.items() if k != "outcome"}
        assert received.headers["webhook-id"] == event["id"]
        wait_for(
            lambda: deliveries(daemon, event["id"])[0]["status"] == "delivered", what="delivered"
        )
        assert deliveries(daemon, event["id"])[0]["attempts"] == 1


def test_trouble_reaching_the_helper_shows_on_the_site(daemon: DaemonProcess) -> None:
    helper = pair(daemon, f"http://127.0.0.1:{unused_port()}/events")
    daemon.request("PUT", "/v1/sites/example.com/declaration", json=TWO, token=helper["token"])
    event = daemon.request("POST", "/v1/sites/example.com/logout", json={}).json()["event"]

    def attention() -> Any:
        return daemon.request("GET", "/v1/sites/example.com").json()["attention"]

    shown = wait_for(attention, what="the undelivered warning")
    assert shown["code"] == "undelivered" and shown["event_id"] == event["id"]
    assert "test helper" in shown["message"] and "connection refused" in shown["message"]
    [delivery] = deliveries(daemon, event["id"])
    assert delivery["status"] == "pending" and delivery["last_error"] == "connection refused"


def test_kill_9_with_the_helper_down_then_restart_delivers_the_same_signed_event(
    daemon_factory: Any,
) -> None:
    port = unused_port()
    first = daemon_factory()
    helper = pair(first, f"http://127.0.0.1:{port}/events")
    first.request("PUT", "/v1/sites/example.com/declaration", json=TWO, token=helper["token"])
    event = first.request("POST", "/v1/sites/example.com/logout", json={}).json()["event"]
    wait_for(
        lambda: deliveries(first, event["id"])[0]["attempts"] >= 1, what="a failed first attempt"
    )
    first.kill()

    with Receiver(port) as receiver:
        second = daemon_factory(first.home)
        [received] = receiver.wait_for(1, timeout=10)
        payload = Webhook(helper["webhook_secret"]).verify(received.body, received.headers)
        assert payload["id"] == event["id"] and payload["type"] == "logout"
        assert json.loads(received.body) == {k: v for k, v in event.items() if k != "outcome"}
        wait_for(
            lambda: deliveries(second, event["id"])[0]["status"] == "delivered", what="delivered"
        )


def test_a_proxy_in_the_environment_never_sees_an_event(daemon_factory: Any) -> None:
    with Receiver() as proxy, Receiver() as receiver:
        daemon = daemon_factory(start=False)
        daemon.env.update(HTTP_PROXY=proxy.base_url, http_proxy=proxy.base_url, NO_PROXY="")
        daemon.start()
        helper = pair(daemon, receiver.url)
        daemon.request("PUT", "/v1/sites/example.com/declaration", json=TWO, token=helper["token"])
        daemon.request("POST", "/v1/sites/example.com/logout", json={})
        receiver.wait_for(1)
        assert proxy.received == []


def test_a_helper_that_answers_410_is_disabled(daemon: DaemonProcess) -> None:
    with Receiver(default=Reply(410)) as receiver:
        helper = pair(daemon, receiver.url)
        daemon.request("PUT", "/v1/sites/example.com/declaration", json=TWO, token=helper["token"])
        daemon.request("POST", "/v1/sites/example.com/logout", json={})
        receiver.wait_for(1)

        def gone() -> bool:
            helpers = daemon.request("GET", "/v1/helpers").json()["helpers"]
            return helpers[0]["status"] == "gone"

        wait_for(gone, what="the helper to be marked gone")
        assert daemon.request("GET", "/v1/sites", token=helper["token"]).status_code == 401
