"""The doorhanger, as a pure view over SiteState dicts."""

from __future__ import annotations

from typing import Any

import pytest
import samples
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QAbstractButton, QCheckBox, QLabel, QPushButton, QWidget

from sessionmgr.gui.doorhanger import Doorhanger


@pytest.fixture
def door(qtbot: Any) -> Doorhanger:
    widget = Doorhanger()
    qtbot.addWidget(widget)
    return widget


def shown(door: Doorhanger, state: Any) -> Doorhanger:
    door.set_state(state)
    door.popup(QRect(100, 0, 24, 24))
    return door


def label(door: Doorhanger, name: str) -> QLabel:
    found = door.findChild(QLabel, name)
    assert found is not None, name
    return found


def button(door: Doorhanger, name: str) -> QPushButton:
    found = door.findChild(QPushButton, name)
    assert found is not None and found.isVisibleTo(door), name
    return found


def visible_buttons(door: Doorhanger) -> list[str]:
    return [b.text() for b in door._controls() if isinstance(b, QPushButton)]


def test_no_focused_site(door: Doorhanger) -> None:
    shown(door, None)
    assert label(door, "site").text() == "No site in focus"
    assert visible_buttons(door) == ["All sites…"]


def test_unsupported_site(door: Doorhanger) -> None:
    shown(door, samples.UNSUPPORTED)
    assert label(door, "site").text() == "example.com"
    assert "does not tell the browser" in label(door, "status").text()
    assert visible_buttons(door) == ["All sites…"]
    assert not door.findChild(QCheckBox, "stay").isVisibleTo(door)


def test_log_in_when_nobody_is_signed_in(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.LOGIN)
    assert label(door, "status").text() == "Not signed in."
    assert visible_buttons(door) == ["All sites…", "Log in"]
    with qtbot.waitSignal(door.login_requested) as blocker:
        qtbot.mouseClick(button(door, "login"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com", None, False]


def test_signed_in_with_passive_accounts(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.SIGNED_IN)
    assert label(door, "status").text() == "Signed in as bear@example.com"
    rows = [(label(door, f"account-{i}-name").text(), label(door, f"account-{i}-state").text(),
             button(door, f"account-{i}-action").text()) for i in range(3)]
    assert rows == [
        ("bear@example.com", "Signed in", "Log out"),
        ("bob@example.com", "Known, not signed in", "Switch to"),
        ("bear.work@example.com", "Known, not signed in", "Switch to"),
    ]
    assert not door.findChild(QPushButton, "login").isVisibleTo(door)
    with qtbot.waitSignal(door.login_requested) as blocker:
        qtbot.mouseClick(button(door, "account-1-action"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com", "bob@example.com", False]
    with qtbot.waitSignal(door.logout_requested) as blocker:
        qtbot.mouseClick(button(door, "account-0-action"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com"]


def test_choose_an_account_when_none_is_active(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.NOBODY_ACTIVE)
    assert button(door, "account-0-action").text() == "Log in"
    assert button(door, "account-0-action").accessibleName() == "Log in bear@example.com"
    with qtbot.waitSignal(door.login_requested) as blocker:
        qtbot.mouseClick(button(door, "account-1-action"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com", "bob@example.com", False]


def test_stay_signed_in_choice_goes_with_the_login(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.SIGNED_IN)
    stay = door.findChild(QCheckBox, "stay")
    qtbot.mouseClick(stay, Qt.MouseButton.LeftButton)
    assert stay.isChecked()
    assert label(door, "expiry").text() == "From your next log in or switch on this site"
    with qtbot.waitSignal(door.login_requested) as blocker:
        qtbot.mouseClick(button(door, "account-2-action"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com", "bear.work@example.com", True]


def test_pending_switch(door: Doorhanger) -> None:
    shown(door, samples.PENDING_SWITCH)
    pending = label(door, "pending")
    assert pending.isVisibleTo(door)
    assert pending.text() == "Switching to bob@example.com — waiting for example.com"
    assert not label(door, "attention").isVisibleTo(door)
    door.set_state(samples.SIGNED_IN)  # the site redeclared
    assert not label(door, "pending").isVisibleTo(door)


def test_no_response_message(door: Doorhanger) -> None:
    shown(door, samples.NO_RESPONSE)
    attention = label(door, "attention")
    assert attention.isVisibleTo(door)
    assert attention.text() == samples.NO_RESPONSE["attention"]["message"]
    assert attention.accessibleName() == attention.text()


def test_stay_signed_in_set_shows_expiry_and_undo(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.STAY_SIGNED_IN)
    stay = door.findChild(QCheckBox, "stay")
    assert stay.isChecked()
    assert label(door, "expiry").text() == "As bear@example.com, until 21 Dec 2026"
    assert "until 21 Dec 2026" in stay.accessibleName()
    with qtbot.waitSignal(door.cancel_persistent_requested) as blocker:
        qtbot.mouseClick(button(door, "undo"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com"]
    # Unchecking the box is the same undo.
    with qtbot.waitSignal(door.cancel_persistent_requested):
        stay.click()
    door.set_state(samples.SIGNED_IN)  # what the service says after the undo
    assert not stay.isChecked()
    assert not door.findChild(QPushButton, "undo").isVisibleTo(door)


def test_login_status_api_site_is_shown_as_one_bit(door: Doorhanger) -> None:
    shown(door, samples.LOGIN_STATUS)
    assert "does not say as whom" in label(door, "status").text()
    assert visible_buttons(door) == ["All sites…"]


def test_every_control_has_an_accessible_name(door: Doorhanger) -> None:
    for state in (samples.SIGNED_IN, samples.STAY_SIGNED_IN, samples.LOGIN,
                  samples.NOBODY_ACTIVE, samples.PENDING_SWITCH):
        shown(door, state)
        for control in door.findChildren(QAbstractButton):
            if control.isVisibleTo(door):
                assert control.accessibleName(), control.text()


def test_keyboard_arrows_enter_and_escape(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.SIGNED_IN)
    qtbot.waitUntil(door.isVisible)
    assert door.focusWidget() is button(door, "account-0-action")  # first control
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Down)
    assert door.focusWidget() is button(door, "account-1-action")
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Down)
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Up)
    assert door.focusWidget() is button(door, "account-1-action")
    with qtbot.waitSignal(door.login_requested) as blocker:
        qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Return)
    assert blocker.args == ["example.com", "bob@example.com", False]
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Up)
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Up)  # wraps around to the last control
    assert door.focusWidget() is door._controls()[-1]
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Escape)
    assert not door.isVisible()


def test_left_right_and_tab_follow_the_same_order(door: Doorhanger, qtbot: Any) -> None:
    """Buttons take Left, Right and Tab themselves; the popup still decides where to:
    top to bottom, left to right, not in the order the widgets were made."""
    shown(door, samples.NOBODY_ACTIVE)
    qtbot.waitUntil(door.isVisible)
    names = [c.objectName() for c in door._controls()]
    assert names == ["account-0-action", "account-1-action", "stay", "open-window", "login"]
    door.findChild(QCheckBox, "stay").setFocus()
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Right)
    assert door.focusWidget().objectName() == "open-window"
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Tab)
    assert door.focusWidget().objectName() == "login"
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Right)  # wraps around to the first
    assert door.focusWidget().objectName() == "account-0-action"
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Left)
    qtbot.keyClick(door.focusWidget(), Qt.Key.Key_Left)
    assert door.focusWidget().objectName() == "open-window"


def test_return_on_the_stay_box_toggles_it(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.SIGNED_IN)
    stay = door.findChild(QCheckBox, "stay")
    stay.setFocus()
    qtbot.keyClick(stay, Qt.Key.Key_Return)
    assert stay.isChecked()


def test_closes_when_another_window_takes_the_focus(door: Doorhanger, qtbot: Any) -> None:
    other = QWidget()
    qtbot.addWidget(other)
    shown(door, samples.SIGNED_IN)
    qtbot.waitUntil(door.isVisible)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: not door.isVisible())


def test_live_update_keeps_keyboard_focus(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.SIGNED_IN)
    button(door, "account-2-action").setFocus()
    door.set_state(samples.PENDING_SWITCH)
    assert door.focusWidget() is button(door, "account-2-action")


def test_opens_near_the_anchor_or_the_cursor(door: Doorhanger) -> None:
    door.set_state(samples.SIGNED_IN)
    door.popup(QRect(1000, 0, 24, 24))  # a top panel: open below it
    geometry = door.frameGeometry()
    assert geometry.top() >= 24
    assert abs(geometry.center().x() - 1012) < door.width() or geometry.right() <= 1024
    door.close()
    door.popup(None)
    assert door.isVisible()


def test_switching_sites_forgets_the_stay_choice(door: Doorhanger) -> None:
    shown(door, samples.SIGNED_IN)
    door.findChild(QCheckBox, "stay").click()
    door.set_state({**samples.SIGNED_IN, "site": "other.example"})
    assert not door.findChild(QCheckBox, "stay").isChecked()


def test_rows_are_replaced_not_accumulated(door: Doorhanger, qtbot: Any) -> None:
    for _ in range(5):
        door.set_state(samples.SIGNED_IN)
    qtbot.waitUntil(lambda: len([w for w in door.findChildren(QWidget)
                                 if w.objectName().endswith("-action")]) == 3)


def test_rows_are_refilled_by_a_new_state(door: Doorhanger, qtbot: Any) -> None:
    """Rows are kept from state to state: nothing of the old state may stay on them."""
    shown(door, samples.SIGNED_IN)
    name = label(door, "account-0-name")
    assert name.font().bold()
    assert label(door, "account-0-state").foregroundRole() is not QPalette.ColorRole.PlaceholderText
    door.set_state({**samples.NOBODY_ACTIVE, "sessions": samples.NOBODY_ACTIVE["sessions"][::-1]})
    assert label(door, "account-0-name") is name  # the same label, refilled
    assert [label(door, f"account-{i}-name").text() for i in range(2)] == \
        ["bob@example.com", "bear@example.com"]
    assert not name.font().bold()
    assert label(door, "account-0-state").foregroundRole() is QPalette.ColorRole.PlaceholderText
    assert label(door, "account-0-avatar").accessibleName() == "Avatar of bob@example.com"
    assert not label(door, "account-0-avatar").pixmap().isNull()
    assert door.findChild(QPushButton, "account-2-action") is None  # bear.work's row went
    with qtbot.waitSignal(door.login_requested) as blocker:
        qtbot.mouseClick(button(door, "account-1-action"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["example.com", "bear@example.com", False]
    door.set_state(samples.SIGNED_IN)
    assert label(door, "account-2-name").text() == "bear.work@example.com"
    with qtbot.waitSignal(door.logout_requested):
        qtbot.mouseClick(button(door, "account-0-action"), Qt.MouseButton.LeftButton)


def test_another_account_when_accounts_are_listed(door: Doorhanger, qtbot: Any) -> None:
    shown(door, samples.NOBODY_ACTIVE)
    assert button(door, "login").text() == "Another account…"
    with qtbot.waitSignal(door.login_requested) as blocker:
        button(door, "login").click()
    assert blocker.args == ["example.com", None, False]


def test_size_follows_the_content(door: Doorhanger) -> None:
    shown(door, samples.STAY_SIGNED_IN)
    tall = door.height()
    door.close()
    shown(door, samples.LOGIN)
    assert door.height() < tall - 100
    door.set_state(samples.PENDING_SWITCH)  # grows while open
    assert door.height() > tall


def test_tray_click_toggles(qtbot: Any, fake_service: Any) -> None:
    from sessionmgr.gui.controller import Controller

    controller = Controller(fake_service, tray_available=True)
    try:
        door = controller.doorhanger
        controller.toggle_doorhanger(QRect(100, 0, 24, 24))
        assert door.isVisible()
        controller.toggle_doorhanger(QRect(100, 0, 24, 24))
        assert not door.isVisible()
        controller.toggle_doorhanger(QRect(100, 0, 24, 24))  # the same click, seen after
        assert not door.isVisible()                          # the popup closed itself
        door.closed_at -= 1
        controller.toggle_doorhanger(QRect(100, 0, 24, 24))
        assert door.isVisible()
    finally:
        controller.close()
