"""Tray menu, dialogs and the sessions window, as views over state dicts."""

from __future__ import annotations

from typing import Any

import pytest
import samples
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QDialog, QSystemTrayIcon

from sessionmgr.gui.dialogs import LogoutAllDialog, PairingDialog, SettingsDialog
from sessionmgr.gui.icons import IconKind
from sessionmgr.gui.models import EventsModel, HelpersModel, SiteTableModel
from sessionmgr.gui.sessions_window import SessionsWindow
from sessionmgr.gui.tray import Tray
from sessionmgr.settings import Settings

SIGNED_IN_ELSEWHERE = samples.state("mail.example", sessions=[samples.session("me@mail.example")])


def menu_texts(menu: Any) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_tray_shows_the_focused_state(qapp: Any) -> None:
    tray = Tray(lambda limit: ([], 0))
    tray.set_state(samples.PENDING_SWITCH)
    assert tray.look.kind is IconKind.PENDING
    assert tray.icon.toolTip() == "Switching to bob@example.com — waiting for example.com"
    tray.set_state(samples.UNDELIVERED)
    assert tray.look.warning and tray.icon.toolTip().startswith(
        "example.com — signed in as bear@example.com\n⚠ Could not tell")


def test_tray_left_click_asks_for_the_doorhanger(qtbot: Any) -> None:
    tray = Tray(lambda limit: ([], 0))
    with qtbot.waitSignal(tray.doorhanger_requested) as blocker:
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert isinstance(blocker.args[0], QRect)


def test_context_menu_lists_signed_in_sites(qtbot: Any) -> None:
    tray = Tray(lambda limit: ([samples.STAY_SIGNED_IN, SIGNED_IN_ELSEWHERE], 2))
    tray.rebuild_menu()
    assert menu_texts(tray.menu) == [
        "Signed in", "example.com — bear@example.com", "mail.example — me@mail.example",
        "Log out of all sites…", "Sessions window", "Paired browsers…", "Settings…",
        "Pause notifications", "Quit"]
    site = tray.menu.actions()[1].menu()
    assert menu_texts(site) == ["bear@example.com", "bob@example.com", "bear.work@example.com",
                                "Log out", "Stay signed in (until 21 Dec 2026)"]
    with qtbot.waitSignal(tray.login_requested) as blocker:
        site.actions()[1].trigger()
    assert blocker.args == ["example.com", "bob@example.com", False]
    with qtbot.waitSignal(tray.logout_requested) as blocker:
        next(a for a in site.actions() if a.text() == "Log out").trigger()
    assert blocker.args == ["example.com"]
    with qtbot.waitSignal(tray.cancel_persistent_requested) as blocker:
        site.actions()[-1].trigger()
    assert blocker.args == ["example.com"]
    with qtbot.waitSignal(tray.pause_toggled) as blocker:
        next(a for a in tray.menu.actions() if a.text() == "Pause notifications").trigger()
    assert blocker.args == [True]


def test_context_menu_when_signed_in_nowhere(qapp: Any) -> None:
    tray = Tray(lambda limit: ([], 0))
    tray.rebuild_menu()
    texts = menu_texts(tray.menu)
    assert texts[0] == "Not signed in anywhere"
    logout_all = next(a for a in tray.menu.actions() if a.text() == "Log out of all sites…")
    assert not logout_all.isEnabled()


def test_logout_all_dialog_lists_exactly_the_sites(qtbot: Any) -> None:
    dialog = LogoutAllDialog([("example.com", "bear@example.com"),
                              ("mail.example", "me@mail.example")])
    qtbot.addWidget(dialog)
    assert dialog.entries() == ["example.com — bear@example.com",
                                "mail.example — me@mail.example"]
    assert dialog.confirm.text() == "Log out of 2 sites"
    dialog.open()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Cancel is the default: nothing happens
    assert dialog.result() == QDialog.DialogCode.Rejected
    dialog.open()
    with qtbot.waitSignal(dialog.accepted):
        dialog.confirm.click()


def pairing(expires_at: float) -> dict[str, Any]:
    return {"id": "p1", "name": "Chromium on laptop", "origin": "chrome-extension://abcdef",
            "code": "314-159", "status": "pending", "expires_at": expires_at}


def test_pairing_dialog_approve_and_reject(qtbot: Any) -> None:
    now = [1000.0]
    dialog = PairingDialog(pairing(1100.0), clock=lambda: now[0])
    qtbot.addWidget(dialog)
    assert dialog.code.text() == "314-159"
    assert dialog.countdown.text() == "Expires in 1:40"
    dialog.show()
    with qtbot.waitSignal(dialog.decided) as blocker:
        dialog.approve_button.click()
    assert blocker.args == ["p1", True]
    other = PairingDialog(pairing(1100.0), clock=lambda: now[0])
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.decided) as blocker:
        other.reject_button.click()
    assert blocker.args == ["p1", False]


def test_pairing_dialog_closes_as_rejected_when_it_expires(qtbot: Any) -> None:
    now = [1000.0]
    dialog = PairingDialog(pairing(1001.5), clock=lambda: now[0])
    qtbot.addWidget(dialog)
    dialog.show()
    now[0] = 1002.0
    with qtbot.waitSignal(dialog.decided, timeout=3000) as blocker:
        pass  # the dialog's own one-second tick notices
    assert blocker.args == ["p1", False]
    assert not dialog.isVisible()


def test_settings_dialog_round_trip(qtbot: Any) -> None:
    dialog = SettingsDialog(Settings(port=0, notifications=True, persist_days=30))
    qtbot.addWidget(dialog)
    dialog.start_at_login.setChecked(True)
    dialog.days.setValue(7)
    dialog.port.setValue(8765)
    value = dialog.value()
    assert (value.start_at_login, value.persist_days, value.port, value.notifications) == \
        (True, 7, 8765, True)


@pytest.fixture
def window(qtbot: Any) -> SessionsWindow:
    sites = SiteTableModel()
    sites.reset([samples.STAY_SIGNED_IN, SIGNED_IN_ELSEWHERE,
                 samples.UNSUPPORTED | {"site": "plain.example"}])
    made = SessionsWindow(sites, EventsModel(), HelpersModel())
    qtbot.addWidget(made)
    made.show()
    return made


def test_sessions_window_actions_follow_the_selection(window: SessionsWindow, qtbot: Any) -> None:
    assert window.count.text() == "3 sites"
    assert not window.logout_button.isEnabled()
    assert window.select_site("example.com")
    assert window.logout_button.isEnabled() and window.undo_button.isEnabled()
    assert [a.text() for a in window.switch_menu.actions()] == ["bob@example.com",
                                                                "bear.work@example.com"]
    with qtbot.waitSignal(window.login_requested) as blocker:
        window.switch_menu.actions()[0].trigger()
    assert blocker.args == ["example.com", "bob@example.com", False]
    for button, signal in ((window.logout_button, window.logout_requested),
                           (window.undo_button, window.cancel_persistent_requested),
                           (window.forget_button, window.forget_requested)):
        with qtbot.waitSignal(signal) as blocker:
            button.click()
        assert blocker.args == ["example.com"]
    window.select_site("plain.example")
    assert not window.logout_button.isEnabled() and not window.switch_button.isEnabled()


def test_sessions_window_search(window: SessionsWindow, qtbot: Any) -> None:
    qtbot.keyClicks(window.search, "MAIL")
    assert window.proxy.rowCount() == 1
    assert window.count.text() == "1 of 3 sites"
    window.search.clear()
    assert window.count.text() == "3 sites"


def test_sessions_window_revoke(qtbot: Any) -> None:
    helpers = HelpersModel()
    helpers.set_items([{"id": "h1", "name": "Chromium", "origin": None, "code": "1-2",
                        "status": "active", "last_seen": None}])
    window = SessionsWindow(SiteTableModel(), EventsModel(), helpers)
    qtbot.addWidget(window)
    window.show_tab("browsers")
    assert not window.revoke_button.isEnabled()
    window.helpers_table.selectRow(0)
    with qtbot.waitSignal(window.revoke_requested) as blocker:
        window.revoke_button.click()
    assert blocker.args == ["h1"]


def test_context_menu_caps_a_long_list(qapp: Any) -> None:
    many = SiteTableModel()
    many.reset([samples.state(f"s{i:03d}.example", sessions=[samples.session("a@x")])
                for i in range(40)])
    tray = Tray(many.signed_in)
    tray.rebuild_menu()
    texts = menu_texts(tray.menu)
    assert texts[1] == "s000.example — a@x" and texts[25] == "s024.example — a@x"
    assert texts[26] == "15 more…"
    assert len(many.signed_in_accounts()) == 40
