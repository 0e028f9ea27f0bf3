"""The GUI driven through the real core: an in-process daemon, real declarations,
a paired helper that is a real loopback HTTP endpoint receiving signed events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QPushButton
from receivers import Receiver

from sessionmgr.gui.bridge import DaemonBackend
from sessionmgr.gui.controller import Controller
from sessionmgr.gui.icons import IconKind

BEAR, BOB = "bear@example.com", "bob@example.com"


@dataclass
class Core:
    daemon: Any
    controller: Controller
    receiver: Receiver
    helper_id: str

    def declare(self, sessions: list[dict[str, Any]] | None, site: str = "example.com",
                focused: bool = True) -> dict[str, Any]:
        body = {"sessions": sessions, "cookies": [], "focused": focused}
        return self.daemon.service.declare(site, body, helper_id=self.helper_id)  # type: ignore[no-any-return]

    def events(self, count: int) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.receiver.wait_for(count)]


@pytest.fixture
def core(home: Path, qtbot: Any) -> Iterator[Core]:
    from sessionmgr.daemon import Daemon

    (home / "settings.json").write_text(json.dumps({"version": 1, "pending_timeout": 1.5}))
    daemon = Daemon.open()
    daemon.start()
    receiver = Receiver()
    controller = Controller(DaemonBackend(daemon), daemon.settings, tray_available=True)
    try:
        controller.start()
        # Pair a helper the way a person does: the prompt appears, they approve.
        daemon.registry.request_pairing({"name": "Test browser", "events_url": receiver.url})
        qtbot.waitUntil(lambda: len(controller.pairing_dialogs) == 1)
        dialog = next(iter(controller.pairing_dialogs.values()))
        assert dialog.code.text()
        dialog.approve_button.click()
        window = controller.show_sessions_window("browsers")  # where paired browsers show
        qtbot.waitUntil(lambda: controller.helpers.rowCount() == 1)
        helper_id = controller.helpers.item(0)["id"]  # type: ignore[index]
        assert controller.helpers.item(0)["status"] == "active"  # type: ignore[index]
        window.close()
        assert controller.helpers.rowCount() == 0  # kept only while the window is open
        yield Core(daemon, controller, receiver, helper_id)
    finally:
        controller.close()
        daemon.stop()
        receiver.close()


def focused(core: Core) -> dict[str, Any] | None:
    return core.controller.focused_state()


def open_door(core: Core) -> Any:
    core.controller.open_doorhanger()
    return core.controller.doorhanger


def click(door: Any, name: str) -> None:
    button = door.findChild(QPushButton, name)
    assert button is not None and button.isVisibleTo(door), name
    button.click()


def test_tray_follows_declarations(core: Core, qtbot: Any) -> None:
    tray = core.controller.tray
    assert tray is not None and tray.look.kind is IconKind.NEUTRAL
    core.declare([])
    qtbot.waitUntil(lambda: tray.look.kind is IconKind.LOGIN)
    assert tray.icon.toolTip() == "example.com — not signed in"
    core.declare([{"email": BEAR}, {"email": BOB, "status": "passive"}])
    qtbot.waitUntil(lambda: tray.look.kind is IconKind.SIGNED_IN)
    assert tray.icon.toolTip() == "example.com — signed in as bear@example.com"
    core.declare(None, site="plain.example")
    qtbot.waitUntil(lambda: core.controller.focused == "plain.example")
    assert tray.look.kind is IconKind.NEUTRAL


def test_switch_to_sends_one_login_event_and_pending_clears(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}, {"email": BOB, "status": "passive"}])
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") == BEAR)
    door = open_door(core)
    assert door.state()["active"] == BEAR
    click(door, "account-1-action")  # Switch to bob
    (event,) = core.events(1)
    assert (event["type"], event["site"], event["account"], event["previous"]) == \
        ("login", "example.com", BOB, BEAR)
    qtbot.waitUntil(lambda: bool((focused(core) or {}).get("pending")))
    assert core.controller.tray.look.kind is IconKind.PENDING  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: door.findChild(QPushButton, "account-1-action") is not None
                    and "Switching to bob@example.com" in door._pending.text())
    core.declare([{"email": BOB}, {"email": BEAR, "status": "passive"}])  # the site obeyed
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") == BOB
                    and not focused(core)["pending"])  # type: ignore[index]
    qtbot.waitUntil(lambda: not door._pending.isVisibleTo(door))
    assert door.state()["active"] == BOB
    assert core.controller.tray.look.kind is IconKind.SIGNED_IN  # type: ignore[union-attr]
    assert core.controller.events.rowCount() == 0  # the tray does nothing per event
    core.controller.show_sessions_window("activity")
    qtbot.waitUntil(lambda: core.controller.events.rowCount() == 1
                    and core.controller.events.item(0)["outcome"] == "confirmed")  # type: ignore[index]


def test_log_out_and_log_in(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}])
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") == BEAR)
    door = open_door(core)
    click(door, "account-0-action")  # Log out
    (logout,) = core.events(1)
    assert (logout["type"], logout["account"]) == ("logout", BEAR)
    core.declare([{"email": BEAR, "status": "passive"}])
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") is None
                    and not focused(core)["pending"])  # type: ignore[index]
    qtbot.waitUntil(lambda: door.findChild(QPushButton, "login").isVisibleTo(door))
    door.findChild(QPushButton, "login").click()  # Log in, no account chosen
    login = core.events(2)[1]
    assert (login["type"], login["account"], login["previous"]) == ("login", None, None)


def test_stay_signed_in_then_undo(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR, "status": "passive"}])
    qtbot.waitUntil(lambda: focused(core) is not None)
    door = open_door(core)
    door._stay.click()
    click(door, "account-0-action")  # Log in as bear, staying signed in
    (event,) = core.events(1)
    assert (event["account"], event["persistent"]) == (BEAR, True)
    core.declare([{"email": BEAR}])
    qtbot.waitUntil(lambda: bool((focused(core) or {}).get("persistent")))
    qtbot.waitUntil(lambda: door._undo.isVisibleTo(door))
    assert door._expiry.text().startswith("As bear@example.com, until ")
    door._undo.click()
    qtbot.waitUntil(lambda: not (focused(core) or {}).get("persistent"))
    qtbot.waitUntil(lambda: not door._undo.isVisibleTo(door))


def test_failure_message_when_the_helper_is_down(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}, {"email": BOB, "status": "passive"}])
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") == BEAR)
    core.receiver.close()  # the browser's helper stopped listening
    door = open_door(core)
    notes: list[tuple[str, str]] = []
    core.controller.notified.connect(lambda title, text: notes.append((title, text)))
    click(door, "account-1-action")
    qtbot.waitUntil(lambda: door._attention.isVisibleTo(door), timeout=10_000)
    assert "Could not tell example.com to sign you in" in door._attention.text()
    assert core.controller.tray.look.warning  # type: ignore[union-attr]
    assert any("Could not tell example.com" in text for _, text in notes)


def test_no_response_message_when_the_site_never_redeclares(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}])
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") == BEAR)
    door = open_door(core)
    click(door, "account-0-action")
    core.events(1)  # delivered, but the site never answers
    qtbot.waitUntil(lambda: door._attention.isVisibleTo(door), timeout=10_000)
    assert not door._pending.isVisibleTo(door)
    core.controller.show_sessions_window("activity")
    qtbot.waitUntil(lambda: core.controller.events.rowCount() == 1
                    and core.controller.events.item(0)["outcome"] == "no_response")  # type: ignore[index]


def test_log_out_of_all_lists_the_signed_in_sites(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}])
    core.declare([{"email": "me@mail.example"}], site="mail.example", focused=False)
    core.declare([], site="news.example", focused=False)
    qtbot.waitUntil(lambda: core.controller.summary.signed_in_count == 2)
    assert core.controller.signed_in(25)[1] == 2
    core.controller.confirm_logout_all()
    qtbot.waitUntil(lambda: core.controller.logout_all_prompt is not None)
    dialog = core.controller.logout_all_prompt
    assert dialog.entries() == ["example.com — bear@example.com",
                                "mail.example — me@mail.example"]
    dialog.confirm.click()
    events = core.events(2)
    assert sorted((e["site"], e["type"], e["account"]) for e in events) == [
        ("example.com", "logout", BEAR), ("mail.example", "logout", "me@mail.example")]


def test_sessions_window_forget_and_live_rows(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}])
    window = core.controller.show_sessions_window()
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    resets: list[int] = []
    core.controller.sites.modelReset.connect(lambda: resets.append(1))
    core.declare([{"email": "me@mail.example"}], site="mail.example", focused=False)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2)
    window.select_site("mail.example")
    window.forget_button.click()
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    assert core.daemon.service.get_site("mail.example") is None
    assert not resets


def test_site_signing_you_out_on_its_own_is_announced(core: Core, qtbot: Any) -> None:
    core.declare([{"email": BEAR}])
    qtbot.waitUntil(lambda: (focused(core) or {}).get("active") == BEAR)
    with qtbot.waitSignal(core.controller.notified) as blocker:
        core.declare([])
    assert blocker.args == ["Signed out of example.com",
                            "example.com signed you out of bear@example.com."]


def test_every_sites_row_is_kept_only_while_the_sessions_window_is_open(
    core: Core, qtbot: Any
) -> None:
    controller = core.controller
    core.declare([{"email": BEAR}])
    qtbot.waitUntil(lambda: controller.summary.signed_in_count == 1)
    assert controller.sites.rowCount() == 0  # the tray needs only its summary
    window = controller.show_sessions_window()
    qtbot.waitUntil(lambda: controller.sites.rowCount() == 1)
    window.close()
    assert controller.sites.rowCount() == 0 and not controller.bridge.table_live
    core.declare([{"email": "me@mail.example"}], site="mail.example", focused=False)
    qtbot.waitUntil(lambda: controller.summary.signed_in_count == 2)
    assert controller.sites.rowCount() == 0
    assert [s["site"] for s in controller.signed_in(25)[0]] == ["example.com", "mail.example"]
    controller.show_sessions_window()
    qtbot.waitUntil(lambda: controller.sites.rowCount() == 2)
