"""The tray icon and its context menu: a view over the focused site's state.

The menu is rebuilt each time it opens (from the signed-in sites the caller
hands over), so it is always current without being kept in sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from sessionmgr.gui import describe, icons

State = dict[str, Any]

MENU_SITES = 25  # more than this, and the sessions window is the better place


class Tray(QObject):
    """``QSystemTrayIcon`` plus the right-click menu; user choices leave as signals."""

    doorhanger_requested = Signal(QRect)            # icon geometry (may be empty)
    login_requested = Signal(str, object, bool)     # site, account, persistent
    logout_requested = Signal(str)
    cancel_persistent_requested = Signal(str)
    logout_all_requested = Signal()
    browsers_requested = Signal()
    sessions_requested = Signal()
    settings_requested = Signal()
    pause_toggled = Signal(bool)                    # True: notifications paused
    quit_requested = Signal()

    def __init__(self, signed_in: Callable[[int], tuple[list[State], int]],
                 parent: QObject | None = None):
        """``signed_in(limit)``: up to ``limit`` signed-in sites' states, and their count."""
        super().__init__(parent)
        self._signed_in = signed_in
        self.look = icons.tray_look(None)
        self.icon = QSystemTrayIcon(icons.tray_icon(self.look.kind, self.look.warning), self)
        self.icon.setToolTip(self.look.tooltip)
        self.icon.activated.connect(self._on_activated)
        self.menu = QMenu()
        self.menu.setAccessibleName("Session Manager menu")
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.pause_action = QAction("Pause notifications", self, checkable=True)
        self.pause_action.toggled.connect(self.pause_toggled.emit)
        self.icon.setContextMenu(self.menu)
        self.rebuild_menu()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_state(self, state: State | None, undelivered: bool = False) -> None:
        """Show the focused site's state; only touches the icon when it changes."""
        look = icons.tray_look(state, undelivered)
        if (look.kind, look.warning) != (self.look.kind, self.look.warning):
            self.icon.setIcon(icons.tray_icon(look.kind, look.warning))
        if look.tooltip != self.look.tooltip:
            self.icon.setToolTip(look.tooltip)
        self.look = look

    def set_paused(self, paused: bool) -> None:
        self.pause_action.blockSignals(True)
        self.pause_action.setChecked(paused)
        self.pause_action.blockSignals(False)

    def notify(self, title: str, text: str, warning: bool = False) -> None:
        kind = QSystemTrayIcon.MessageIcon.Warning if warning else \
            QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, text, kind, 8000)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.doorhanger_requested.emit(self.icon.geometry())

    def rebuild_menu(self) -> None:
        menu = self.menu
        menu.clear()
        states, total = self._signed_in(MENU_SITES)
        if states:
            header = menu.addAction("Signed in")
            header.setEnabled(False)
        for state in states:
            menu.addMenu(self._site_menu(state, menu))
        if total > len(states):
            menu.addAction(f"{total - len(states):,} more…", self.sessions_requested.emit)
        if not states:
            nothing = menu.addAction("Not signed in anywhere")
            nothing.setEnabled(False)
        menu.addSeparator()
        logout_all = menu.addAction("Log out of all sites…", self.logout_all_requested.emit)
        logout_all.setEnabled(bool(states))
        menu.addSeparator()
        menu.addAction("Sessions window", self.sessions_requested.emit)
        menu.addAction("Paired browsers…", self.browsers_requested.emit)
        menu.addAction("Settings…", self.settings_requested.emit)
        menu.addAction(self.pause_action)
        menu.addSeparator()
        menu.addAction("Quit", self.quit_requested.emit)

    def _site_menu(self, state: State, parent: QMenu) -> QMenu:
        site = state["site"]
        active = state.get("active")
        anonymous = describe.is_anonymous(state)
        title = f"{site} — {'signed in' if anonymous else describe.short(active, 32)}"
        look = icons.tray_look(state)
        sub = QMenu(title, parent)
        sub.setIcon(icons.tray_icon(look.kind, look.warning))
        if state.get("pending"):
            waiting = sub.addAction(describe.pending_text(state["pending"], site))
            waiting.setEnabled(False)
        if not anonymous:
            for session in state.get("sessions") or ():
                account = session["email"]
                action = sub.addAction(account)
                action.setCheckable(True)
                action.setChecked(account == active)
                if account == active:
                    action.setEnabled(False)
                else:
                    action.setToolTip(f"Switch to {account}")
                    action.triggered.connect(
                        lambda _=False, who=account: self.login_requested.emit(site, who, False))
            sub.addSeparator()
        sub.addAction("Log out", lambda: self.logout_requested.emit(site))
        persistent = state.get("persistent")
        stay = sub.addAction("Stay signed in")
        stay.setCheckable(True)
        stay.setChecked(bool(persistent))
        if persistent:
            until = describe.when(persistent.get("expires"), with_time=False)
            stay.setText(f"Stay signed in (until {until})" if until else "Stay signed in")
            stay.triggered.connect(lambda: self.cancel_persistent_requested.emit(site))
        else:
            # Staying signed in is chosen at log in; offered on switches in the doorhanger.
            stay.setEnabled(False)
            stay.setToolTip("Choose “Stay signed in” when you next log in to this site")
        return sub
