"""Wires the bridge, the models and the views together.

Views never see the service: they show the models and emit user intents;
this object turns intents into bridge calls and model changes into view
updates and notifications.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, QRect, QTimer, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from sessionmgr import settings as settings_io
from sessionmgr.gui import describe
from sessionmgr.gui.bridge import EMPTY_SUMMARY, Bridge, Summary
from sessionmgr.gui.models import EventsModel, HelpersModel, SiteTableModel, prepare_site
from sessionmgr.gui.tray import MENU_SITES, Tray
from sessionmgr.settings import Settings

if TYPE_CHECKING:  # imported when first shown: start-up only needs the tray
    from sessionmgr.gui.dialogs import LogoutAllDialog, PairingDialog
    from sessionmgr.gui.doorhanger import Doorhanger
    from sessionmgr.gui.sessions_window import SessionsWindow

log = logging.getLogger("sessionmgr.gui")

State = dict[str, Any]


class Controller(QObject):
    """The tray app's behaviour, independent of how the process is started."""

    notified = Signal(str, str)  # title, text (also shown by the tray when not paused)
    quit_requested = Signal()
    loaded = Signal()  # once, when the first snapshot is in: tray and menu current

    PRELOAD_MS = 200  # after loaded: the doorhanger's code (see _preload_doorhanger)

    def __init__(self, service: Any, settings: Settings | None = None, *,
                 tray_available: bool | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings or Settings()
        self.bridge = Bridge(service, self, prepare_site=prepare_site, menu_sites=MENU_SITES)
        # Every site's row, the newest events and the paired browsers, only while the
        # sessions window is open: the tray needs just the summary, so an idle tray
        # holds nothing per site and does nothing per event.
        self.sites = SiteTableModel(self)
        self.summary: Summary = EMPTY_SUMMARY
        self.events = EventsModel(self)
        self.helpers = HelpersModel(self)
        self.logout_all_prompt: LogoutAllDialog | None = None
        self._doorhanger: Doorhanger | None = None
        self._window: SessionsWindow | None = None
        self.pairing_dialogs: dict[str, PairingDialog] = {}
        self._seen_pairings: set[str] = set()
        self._paused = not self.settings.notifications
        self._closed = False
        if tray_available is None:
            tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: Tray | None = Tray(self.signed_in) if tray_available else None

        b = self.bridge
        b.sites_loaded.connect(self._on_sites_loaded)
        b.sites_changed.connect(self._on_sites_changed)
        b.summary_changed.connect(self._on_summary)
        b.events_changed.connect(self._on_events)
        b.helpers_changed.connect(self._on_helpers)
        b.pairings_changed.connect(self._on_pairings)
        b.error.connect(self._on_error)

        if self.tray is not None:
            t = self.tray
            t.set_paused(self._paused)
            t.doorhanger_requested.connect(self.toggle_doorhanger)
            t.login_requested.connect(b.login)
            t.logout_requested.connect(b.logout)
            t.cancel_persistent_requested.connect(b.cancel_persistent)
            t.logout_all_requested.connect(self.confirm_logout_all)
            t.sessions_requested.connect(self.show_sessions_window)
            t.browsers_requested.connect(lambda: self.show_sessions_window("browsers"))
            t.settings_requested.connect(self.edit_settings)
            t.pause_toggled.connect(self.set_paused)
            t.quit_requested.connect(self.quit_requested.emit)

    def start(self) -> None:
        """Show the tray (or, without one, the window) and load the first snapshot."""
        if self.tray is not None:
            self.tray.show()
        else:
            log.warning("no system tray on this desktop: opening the sessions window")
            self.show_sessions_window().show_notice(
                "This desktop has no system tray, so Session Manager shows this window "
                "instead. Closing it leaves Session Manager running: start it again to "
                "bring the window back.")
        self.bridge.refresh_all(done=self._on_loaded)

    def _on_loaded(self) -> None:
        self.loaded.emit()
        QTimer.singleShot(self.PRELOAD_MS, self, self._preload_doorhanger)

    def _preload_doorhanger(self) -> None:
        """Shortly after start-up, load the doorhanger's code and the PySide6 enums it
        names (~12 ms; ~1.1 MiB of idle RSS, 0.76 of it the enums of PySide6's Qt
        namespace, which a click needs anyway), so that the first click only builds the
        widgets (~11 ms instead of ~25); those, with the style and fonts they load
        (~7 MiB), still wait for that click."""
        from sessionmgr.gui import doorhanger  # noqa: F401

    @property
    def doorhanger(self) -> Doorhanger:
        """The popup, built on first use: its module, the widget style and the fonts
        it loads take ~15 ms and ~7 MiB that a tray nobody clicks never needs."""
        if self._doorhanger is None:
            from sessionmgr.gui.doorhanger import Doorhanger

            d = self._doorhanger = Doorhanger()
            b = self.bridge
            d.login_requested.connect(b.login)
            d.logout_requested.connect(b.logout)
            d.cancel_persistent_requested.connect(b.cancel_persistent)
            d.sessions_window_requested.connect(self.show_sessions_window)
        return self._doorhanger

    def _shown_doorhanger(self) -> Doorhanger | None:
        door = self._doorhanger
        return door if door is not None and door.isVisible() else None

    def close(self) -> None:
        """Stop talking to the service and destroy the windows now, while Qt is whole
        (left to interpreter exit, PySide deletes them in no useful order)."""
        if self._closed:
            return
        self._closed = True
        self.bridge.close()
        windows: list[QWidget] = [*self.pairing_dialogs.values()]
        if self._doorhanger is not None:
            windows.append(self._doorhanger)
        if self._window is not None:
            windows.append(self._window)
        self.pairing_dialogs.clear()
        self._window = None
        for window in windows:
            window.blockSignals(True)
            window.close()
            shiboken6.delete(window)
        if self.tray is not None:
            self.tray.hide()
            shiboken6.delete(self.tray.menu)

    # -- state in --

    @property
    def focused(self) -> str | None:
        """The site of the browser's active tab."""
        return self.summary.focused

    def focused_state(self) -> State | None:
        row = self.summary.focused_row
        return None if row is None else row.state()

    def signed_in(self, limit: int) -> tuple[list[State], int]:
        """The tray menu's sites: up to ``limit`` signed-in sites' states, and their count."""
        summary = self.summary
        return [row.state() for row in summary.signed_in[:limit]], summary.signed_in_count

    def _on_summary(self, summary: Summary) -> None:
        before = self.focused_state()
        self.summary = summary
        # The open doorhanger is rebuilt only when what it shows changed.
        self._refresh_focus_views(doorhanger=self.focused_state() != before)

    def _on_sites_loaded(self, rows: list[Any]) -> None:
        if self.bridge.table_live:  # not for a window closed since it asked
            self.sites.reset(rows)

    def _on_sites_changed(self, changes: dict[str, Any], before: dict[str, Any]) -> None:
        for site, row in changes.items():
            old = before.get(site)
            self._notice(None if old is None else old.state(),
                         None if row is None else row.state())
        if self.bridge.table_live:
            self.sites.apply(changes)

    def _refresh_focus_views(self, doorhanger: bool = True) -> None:
        state = self.focused_state()
        if self.tray is not None:
            self.tray.set_state(state, undelivered=self.summary.undelivered > 0)
        if doorhanger and (shown := self._shown_doorhanger()) is not None:
            shown.set_state(state)

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        if self.bridge.table_live:  # not for a window closed since it asked
            self.events.set_items(events)

    def _on_helpers(self, helpers: list[dict[str, Any]]) -> None:
        if self.bridge.table_live:  # as for events
            self.helpers.set_items(helpers)
            self.events.set_helper_names({h["id"]: h.get("name", "") for h in helpers})

    def _on_pairings(self, pairings: list[dict[str, Any]]) -> None:
        pending = {p["id"]: p for p in pairings if p.get("status") == "pending"}
        for pairing_id, dialog in list(self.pairing_dialogs.items()):
            if pairing_id not in pending:  # decided elsewhere, or expired
                dialog.blockSignals(True)
                dialog.close()
                del self.pairing_dialogs[pairing_id]
        for pairing_id, pairing in pending.items():
            if pairing_id in self._seen_pairings:
                continue
            self._seen_pairings.add(pairing_id)
            self.show_pairing(pairing)

    def show_pairing(self, pairing: dict[str, Any]) -> PairingDialog:
        from sessionmgr.gui.dialogs import PairingDialog

        dialog = PairingDialog(pairing)
        dialog.decided.connect(self._on_pairing_decided)
        self.pairing_dialogs[pairing["id"]] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        if not dialog.isActiveWindow():
            self.notify("Pair a browser?",
                        f"{pairing.get('name') or 'A browser'} asks to pair. "
                        f"Check that it shows the code {pairing.get('code', '')}.")
        return dialog

    def _on_pairing_decided(self, pairing_id: str, approved: bool) -> None:
        self.pairing_dialogs.pop(pairing_id, None)
        if approved:
            self.bridge.approve_pairing(pairing_id)
        else:
            self.bridge.reject_pairing(pairing_id)

    def _on_error(self, what: str, message: str) -> None:
        self.notify(f"{what} failed" if what else "Something went wrong", message, warning=True)

    def _notice(self, before: State | None, after: State | None) -> None:
        """Notifications worth interrupting for: undelivered events, surprise sign-outs."""
        if after is None:
            return
        attention = after.get("attention")
        if attention and attention.get("event_id") != ((before or {}).get("attention") or {}) \
                .get("event_id"):
            if attention.get("code") == "no_response":
                title = f"{after['site']} did not respond"
            else:
                title = "Could not reach your browser"
            self.notify(title, attention.get("message", ""), warning=True)
        if before and before.get("active") and not after.get("active") \
                and before.get("pending") is None and after.get("supported") \
                and not describe.is_anonymous(before):
            self.notify(f"Signed out of {after['site']}",
                        f"{after['site']} signed you out of {before['active']}.")

    # -- user intents --

    def open_doorhanger(self, anchor: QRect | None = None) -> None:
        self.doorhanger.set_state(self.focused_state())
        self.doorhanger.popup(anchor)

    def toggle_doorhanger(self, anchor: QRect | None = None) -> None:
        """A click on the tray icon: open, or close when that click just closed it."""
        if (shown := self._shown_doorhanger()) is not None:
            shown.close()
        elif self._doorhanger is None or not self._doorhanger.just_closed():
            self.open_doorhanger(anchor)

    def show_sessions_window(self, tab: str = "sites") -> SessionsWindow:
        if self._window is None:
            from sessionmgr.gui.sessions_window import SessionsWindow

            window = SessionsWindow(self.sites, self.events, self.helpers)
            window.login_requested.connect(self.bridge.login)
            window.logout_requested.connect(self.bridge.logout)
            window.forget_requested.connect(self.bridge.forget_site)
            window.cancel_persistent_requested.connect(self.bridge.cancel_persistent)
            window.revoke_requested.connect(self.bridge.revoke_helper)
            window.settings_requested.connect(self.edit_settings)
            window.closed.connect(self._on_window_closed)
            self._window = window
        if not self.bridge.table_live:
            self.bridge.load_tables()
        self._window.show_tab(tab)
        return self._window

    def _on_window_closed(self) -> None:
        """Nothing shows the tables now: let their rows go."""
        self.bridge.table_live = False
        self.sites.reset([])
        self.events.set_items([])
        self.helpers.set_items([])

    def confirm_logout_all(self) -> None:
        """Ask before logging out everywhere, listing every signed-in site (read on the
        worker: it may be thousands)."""
        self.bridge.signed_in_accounts(done=self._ask_logout_all)

    def _ask_logout_all(self, accounts: list[tuple[str, str]]) -> None:
        from sessionmgr.gui.dialogs import LogoutAllDialog

        if self._closed:
            return
        dialog = self.logout_all_prompt = LogoutAllDialog(accounts, self._window)
        dialog.accepted.connect(self.bridge.logout_all)
        dialog.finished.connect(self._forget_logout_all)
        dialog.open()

    def _forget_logout_all(self) -> None:
        if self.logout_all_prompt is not None:
            self.logout_all_prompt.deleteLater()
            self.logout_all_prompt = None

    def edit_settings(self) -> None:
        from sessionmgr.gui.dialogs import SettingsDialog

        dialog = SettingsDialog(self.settings, self._window)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.value()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def apply_settings(self, new: Settings) -> None:
        old, self.settings = self.settings, new
        self.set_paused(not self.settings.notifications, save=False)
        self.bridge.call(settings_io.save, self.settings, what="Save settings")
        if old.start_at_login != self.settings.start_at_login:
            from sessionmgr.gui import autostart  # only when the setting changes

            self.bridge.call(autostart.set_start_at_login, self.settings.start_at_login,
                             what="Change start at login")

    def set_paused(self, paused: bool, save: bool = True) -> None:
        self._paused = paused
        if self.tray is not None:
            self.tray.set_paused(paused)
        if save and self.settings.notifications == paused:
            self.settings = self.settings._replace(notifications=not paused)
            self.bridge.call(settings_io.save, self.settings, what="Save settings")

    def notify(self, title: str, text: str, warning: bool = False) -> None:
        log.info("notification: %s: %s", title, text)
        self.notified.emit(title, text)
        if not self._paused and self.tray is not None and self.tray.icon.isVisible():
            self.tray.notify(title, text, warning)

    def quit(self) -> None:
        QApplication.quit()
