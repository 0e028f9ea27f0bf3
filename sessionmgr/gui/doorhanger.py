"""The doorhanger: a small popup for the focused site, as in the browser UX of
seed 002. It is a pure view: ``set_state`` takes a SiteState dict and user
choices leave as signals, so it never touches the service or the disk and can
open instantly however many sites the store holds.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal

# QFont and QPalette are imported with the module, i.e. by the controller's preload:
# their types and enums take ~1.5 ms to create, off the first click that way.
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFont,
    QGuiApplication,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from sessionmgr.gui import describe, icons

if TYPE_CHECKING:  # not imported with the module: their type brings QEvent's enums
    from PySide6.QtGui import QHideEvent, QKeyEvent

State = dict[str, Any]

_AVATAR_COLOURS = ("#2563eb", "#16a34a", "#9333ea", "#db2777", "#0d9488", "#ea580c", "#4f46e5")

_avatars: dict[tuple[str, str, float], QPixmap] = {}  # initial, colour, pixel ratio: few


def _avatar(letter: str, colour: str, font: QFont) -> QPixmap:
    """A round initial, coloured by the account, so accounts are told apart at a glance.
    A painted pixmap, kept: a style-sheeted label cost every open that built one."""
    app = QGuiApplication.instance()
    ratio = app.devicePixelRatio() if isinstance(app, QGuiApplication) else 1.0
    key = (letter, colour, ratio)
    if key not in _avatars:
        pixmap = QPixmap(QSize(32, 32) * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor(0, 0, 0, 0))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawEllipse(QRectF(0, 0, 32, 32))
        painter.setPen(QColor("white"))
        painter.setFont(font)
        painter.drawText(QRectF(0, 0, 32, 32), Qt.AlignmentFlag.AlignCenter, letter)
        painter.end()
        _avatars[key] = pixmap
    return _avatars[key]


def _avatar_colour(ident: str) -> str:
    return _AVATAR_COLOURS[hashlib.sha256(ident.encode()).digest()[0] % len(_AVATAR_COLOURS)]


class _Row:
    """One account's widgets in the accounts grid, kept and refilled by later states."""

    def __init__(self, door: Doorhanger, number: int):
        self.ident = ""
        self.active = False
        self.avatar = QLabel()
        self.avatar.setFixedSize(32, 32)
        self.name = QLabel()
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.detail = QLabel()
        self.button = QPushButton()
        self.button.clicked.connect(lambda: door._row_clicked(self))
        self.widgets = (self.avatar, self.name, self.detail, self.button)
        self.fonts = door._row_fonts
        self.grid, self.number = door._accounts_layout, number
        top = 3 * number
        self.grid.addWidget(self.avatar, top, 0, 2, 1)
        self.grid.addWidget(self.name, top, 1)
        self.grid.addWidget(self.detail, top + 1, 1)
        self.grid.addWidget(self.button, top, 2, 2, 1)
        if number:
            self.grid.setRowMinimumHeight(top - 1, 6)  # the gap after the row above
        for widget, part in zip(self.widgets, ("avatar", "name", "state", "action"), strict=True):
            widget.setObjectName(f"account-{number}-{part}")

    def fill(self, ident: str, active: str | None) -> None:
        is_active = ident == active
        self.ident, self.active = ident, is_active
        plain, bold, initial = self.fonts
        letter = ident[:1].upper() or "?"
        self.avatar.setPixmap(_avatar(letter, _avatar_colour(ident), initial))
        self.avatar.setAccessibleName(f"Avatar of {ident}")
        self.name.setText(ident)
        self.name.setToolTip(ident)
        self.name.setFont(bold if is_active else plain)
        self.detail.setText("Signed in" if is_active else "Known, not signed in")
        self.detail.setForegroundRole(QPalette.ColorRole.WindowText if is_active
                                      else QPalette.ColorRole.PlaceholderText)
        label = "Log out" if is_active else "Switch to" if active else "Log in"
        self.button.setText(label)
        self.button.setAccessibleName(f"{label} {ident}")

    def remove(self) -> None:
        for widget in self.widgets:  # may be mid-click: delete later, unnamed meanwhile
            self.grid.removeWidget(widget)
            widget.setObjectName("")
            widget.hide()
            widget.deleteLater()
        if self.number:
            self.grid.setRowMinimumHeight(3 * self.number - 1, 0)


class Doorhanger(QFrame):
    """Frameless popup: who you are on the focused site, and one click to change it."""

    login_requested = Signal(str, object, bool)      # site, account or None, persistent
    logout_requested = Signal(str)                   # site
    cancel_persistent_requested = Signal(str)        # site
    sessions_window_requested = Signal()

    WIDTH = 360
    MARGIN = 14

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("doorhanger")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Session doorhanger")
        self.setFixedWidth(self.WIDTH)
        self._state: State | None = None
        self._persistent_choice = False
        self.closed_at = float("-inf")

        self._icon = QLabel()
        self._site = QLabel()
        self._site.setObjectName("site")
        font = self._site.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self._site.setFont(font)
        self._site.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self._status = QLabel()
        self._status.setObjectName("status")
        self._status.setWordWrap(True)
        # Wrapped labels get a fixed width so their height is known before they are shown.
        inner = self.WIDTH - 2 * self.MARGIN
        self._status.setFixedWidth(inner - 32 - 10)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self._site)
        titles.addWidget(self._status)
        titles.addStretch(1)
        header = QHBoxLayout()
        header.setSpacing(10)
        header.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addLayout(titles, 1)

        self._pending = self._banner("pending")
        self._attention = self._banner("attention")
        self._expiry = QLabel()
        for label in (self._pending, self._attention, self._expiry):
            label.setFixedWidth(inner)

        self._accounts = QWidget()
        self._accounts.setObjectName("accounts")
        # One grid, three rows an account (name, detail, gap): not a widget and two
        # layouts more an account.
        self._accounts_layout = QGridLayout(self._accounts)
        self._accounts_layout.setContentsMargins(0, 4, 0, 4)
        self._accounts_layout.setVerticalSpacing(0)
        self._accounts_layout.setColumnStretch(1, 1)
        self._rows: list[_Row] = []
        # Unresolved fonts: a name follows the popup's font, only bolder.
        bold, initial = QFont(), QFont()
        bold.setBold(True)
        initial.setWeight(QFont.Weight.DemiBold)
        self._row_fonts = (QFont(), bold, initial)

        self._stay = QCheckBox("Stay signed in")
        self._stay.setObjectName("stay")
        self._stay.setAccessibleName("Stay signed in")
        self._stay.setToolTip("Remember this account on this site until the date shown; "
                              "the site can then sign you in silently.")
        self._stay.toggled.connect(self._on_stay_toggled)
        self._expiry.setObjectName("expiry")
        self._expiry.setWordWrap(True)
        self._undo = QPushButton("Undo")
        self._undo.setObjectName("undo")
        self._undo.setAccessibleName("Stop staying signed in")
        self._undo.setFlat(True)
        self._undo.clicked.connect(self._cancel_persistent)
        self._expiry.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        stay_row = QHBoxLayout()
        stay_row.setContentsMargins(0, 0, 0, 0)
        stay_row.addWidget(self._stay)
        stay_row.addStretch(1)
        stay_row.addWidget(self._undo)
        self._stay_box = QWidget()
        stay = self._stay_layout = QVBoxLayout(self._stay_box)
        stay.setContentsMargins(0, 0, 0, 0)
        stay.setSpacing(0)
        stay.addLayout(stay_row)
        stay.addWidget(self._expiry)

        self._login = QPushButton("Log in")
        self._login.setObjectName("login")
        self._login.setAccessibleName("Log in")
        self._login.setDefault(True)
        self._login.clicked.connect(lambda: self._request_login(None))
        self._open_window = QPushButton("All sites…")
        self._open_window.setObjectName("open-window")
        self._open_window.setAccessibleName("Open the sessions window")
        self._open_window.setFlat(True)
        self._open_window.clicked.connect(self._open_sessions_window)
        footer = QHBoxLayout()
        footer.addWidget(self._open_window)
        footer.addStretch(1)
        footer.addWidget(self._login)

        rule = QFrame()
        rule.setFrameShape(QFrame.Shape.HLine)
        rule.setFrameShadow(QFrame.Shadow.Sunken)
        layout = self._layout = QVBoxLayout(self)
        layout.setContentsMargins(self.MARGIN, 12, self.MARGIN, 10)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self._pending)
        layout.addWidget(self._attention)
        layout.addWidget(rule)
        layout.addWidget(self._accounts)
        layout.addWidget(self._stay_box)
        layout.addLayout(footer)
        self._rule = rule

        self.set_state(None)

    @staticmethod
    def _banner(name: str) -> QLabel:
        banner = QLabel()
        banner.setObjectName(name)
        banner.setWordWrap(True)
        banner.hide()
        return banner

    _BANNER_COLOURS = {"pending": ("#fef3c7", "#78350f"), "attention": ("#fee2e2", "#7f1d1d")}

    def _show_banner(self, banner: QLabel, text: str) -> None:
        """A tinted message strip; fixed colours with enough contrast in both themes.
        Styled when first shown: a style sheet costs every open that builds it."""
        if text and not banner.styleSheet():
            name = banner.objectName()
            background, foreground = self._BANNER_COLOURS[name]
            banner.setStyleSheet(f"QLabel#{name} {{ background:{background}; color:{foreground};"
                                 f" border-left:4px solid {foreground}; border-radius:4px;"
                                 " padding:6px 8px; }")
        banner.setText(text)
        banner.setAccessibleName(text)
        banner.setVisible(bool(text))

    # -- the view ---------------------------------------------------------

    def state(self) -> State | None:
        return self._state

    def site(self) -> str | None:
        return self._state["site"] if self._state else None

    def set_state(self, state: State | None) -> None:
        """Show ``state`` (a SiteState dict; None when no site has focus)."""
        focused = self.focusWidget()
        focused_name = focused.objectName() if focused is not None else ""
        if (state or {}).get("site") != (self._state or {}).get("site"):
            self._persistent_choice = False
        self._state = state
        look = icons.tray_look(state)
        self._icon.setPixmap(icons.tray_icon(look.kind, look.warning).pixmap(QSize(32, 32)))
        self._site.setText(state["site"] if state else "No site in focus")
        self._site.setAccessibleName(f"Site {state['site']}" if state else "No site in focus")
        self._status.setText(self._status_text(state))
        self._status.setAccessibleName(self._status.text())

        pending = (state or {}).get("pending")
        self._show_banner(self._pending, describe.pending_text(pending, state["site"])
                          if pending and state else "")
        attention = (state or {}).get("attention")
        self._show_banner(self._attention, (attention.get("message") or "The site did not respond.")
                          if attention else "")

        self._fill_accounts(state)
        self._fill_stay(state)
        supported = bool(state and state.get("supported"))
        self._login.setVisible(supported and not describe.is_signed_in(state))
        # With known accounts listed, the bare "log in" lets the site offer any other.
        self._login.setText("Another account…" if (state or {}).get("sessions") else "Log in")
        self._rule.setVisible(supported)
        if self.isVisible():  # else popup() fits it: one layout pass per open, not two
            self._fit()
        restored = self.findChild(QWidget, focused_name) if focused_name else None
        if restored is not None and restored.isVisibleTo(self):
            restored.setFocus()
        elif self.isVisible():
            self._focus_first()

    @staticmethod
    def _status_text(state: State | None) -> str:
        if not state:
            return "Browse to a site in a paired browser to see who you are signed in as."
        if not state.get("supported"):
            return "This site does not tell the browser who you are signed in as."
        if describe.is_anonymous(state):
            if describe.is_signed_in(state):
                return "Signed in. The site uses the Login Status API, which does not say as whom."
            return "Not signed in."
        if state.get("active"):
            return f"Signed in as {state['active']}"
        if state.get("sessions"):
            return "Not signed in. Choose an account:"
        return "Not signed in."

    def _fill_accounts(self, state: State | None) -> None:
        sessions = (state or {}).get("sessions") or []
        if not state or not state.get("supported") or describe.is_anonymous(state):
            sessions = []
        rows = self._rows
        while len(rows) > len(sessions):
            rows.pop().remove()
        if not sessions:
            self._accounts.hide()
            return
        active = state.get("active") if state else None
        for number, session in enumerate(sessions):
            if number == len(rows):
                rows.append(_Row(self, number))
            rows[number].fill(session["email"], active)
            for widget in rows[number].widgets:
                widget.show()  # now, not on the next event loop pass: focus may move to it
        self._accounts.show()

    def _row_clicked(self, row: _Row) -> None:
        if row.active:
            self._request_logout()
        else:
            self._request_login(row.ident)

    def _fill_stay(self, state: State | None) -> None:
        supported = bool(state and state.get("supported") and not describe.is_anonymous(state))
        self._stay_box.setVisible(supported)
        persistent = (state or {}).get("persistent")
        self._stay.blockSignals(True)
        self._stay.setChecked(bool(persistent) or self._persistent_choice)
        self._stay.blockSignals(False)
        if persistent:
            until = describe.when(persistent.get("expires"), with_time=False)
            self._expiry.setText(f"As {describe.short(persistent.get('id'), 32)}"
                                 + (f", until {until}" if until else ""))
            self._stay.setAccessibleName(f"Stay signed in as {persistent.get('id')}"
                                         + (f" until {until}" if until else ""))
        else:
            self._expiry.setText("From your next log in or switch on this site"
                                 if self._persistent_choice else "")
            self._stay.setAccessibleName("Stay signed in")
        self._expiry.setAccessibleName(self._expiry.text())
        self._expiry.setVisible(bool(self._expiry.text()))
        self._undo.setVisible(bool(persistent))

    # -- actions ----------------------------------------------------------

    def _request_login(self, account: str | None) -> None:
        if self._state:
            self.login_requested.emit(self._state["site"], account, self._stay.isChecked())

    def _request_logout(self) -> None:
        if self._state:
            self.logout_requested.emit(self._state["site"])

    def _cancel_persistent(self) -> None:
        if self._state and self._state.get("persistent"):
            self.cancel_persistent_requested.emit(self._state["site"])

    def _on_stay_toggled(self, checked: bool) -> None:
        if not checked and (self._state or {}).get("persistent"):
            self._cancel_persistent()
            return
        self._persistent_choice = checked
        self._fill_stay(self._state)

    def _open_sessions_window(self) -> None:
        self.close()
        self.sessions_window_requested.emit()

    # -- showing, keyboard, closing --------------------------------------

    def popup(self, anchor: QRect | None = None) -> None:
        """Open next to ``anchor`` (the tray icon) or, when unknown, the cursor."""
        self._fit()
        size = self.size()
        if anchor is not None and anchor.isValid() and not anchor.isEmpty():
            point = anchor.center()
        else:
            anchor = None
            point = QCursor.pos()
        screen = QGuiApplication.screenAt(point) or QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen else QRect(0, 0, 1920, 1080)
        if anchor is not None:
            below = anchor.bottom() + 4
            above = anchor.top() - 4 - size.height()
            y = below if anchor.center().y() < area.center().y() else above
            x = anchor.center().x() - size.width() // 2
        else:
            x, y = point.x() - size.width() // 2, point.y() + 8
        x = max(area.left() + 4, min(x, area.right() - size.width() - 4))
        y = max(area.top() + 4, min(y, area.bottom() - size.height() - 4))
        self.move(QPoint(x, y))
        self.show()
        self.raise_()
        self.activateWindow()
        self._focus_first()

    def _fit(self) -> None:
        """Shrink or grow to the content (adjustSize never shrinks a shown popup)."""
        # Containers learn their new size hints when their layouts next run; run them now.
        for container, inner in ((self._accounts, self._accounts_layout),
                                 (self._stay_box, self._stay_layout)):
            inner.activate()
            container.updateGeometry()
        layout = self._layout
        layout.invalidate()
        layout.activate()
        self.resize(self.WIDTH, layout.totalHeightForWidth(self.WIDTH))

    def _focus_first(self) -> None:
        for button in self._controls():
            button.setFocus(Qt.FocusReason.PopupFocusReason)
            return
        self.setFocus(Qt.FocusReason.PopupFocusReason)

    def _controls(self) -> list[QAbstractButton]:
        """The focusable controls, top to bottom."""
        found = [w for w in self.findChildren(QAbstractButton)
                 if w.isVisibleTo(self) and w.isEnabled()]
        return sorted(found, key=lambda w: (w.mapTo(self, QPoint(0, 0)).y(),
                                            w.mapTo(self, QPoint(0, 0)).x()))

    def _move_focus(self, step: int) -> None:
        controls = self._controls()
        if not controls:
            return
        current = self.focusWidget()
        at = controls.index(current) if current in controls else -step if step > 0 else 0
        controls[(at + step) % len(controls)].setFocus(Qt.FocusReason.TabFocusReason)

    # No event filter and no event() override: they took every event of the popup and
    # its buttons through Python, and the first one a walk over PySide6's event types
    # (~2 ms of the first open). Buttons pass Up, Down, Escape and Return (except the
    # default button, which clicks itself) on to keyPressEvent, and turn Left, Right
    # and Tab into focusNextPrevChild, which asks the window. Qt itself closes the
    # popup when another window takes the focus (while a popup is open, QApplication
    # does not change its active window, so no WindowDeactivate ever reached it).

    def focusNextPrevChild(self, next: bool) -> bool:
        self._move_focus(1 if next else -1)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._handle_key(event):
            super().keyPressEvent(event)

    def _handle_key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.close()
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_Right):
            self._move_focus(1)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Left):
            self._move_focus(-1)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focused = self.focusWidget()
            if isinstance(focused, QAbstractButton):
                focused.click()
            elif self._login.isVisible():
                self._login.click()
        else:
            return False
        return True

    def hideEvent(self, event: QHideEvent) -> None:
        self.closed_at = time.monotonic()
        super().hideEvent(event)

    def just_closed(self) -> bool:
        """Closed a moment ago, most likely by the very click on the tray icon that
        would open it again: that click means "close", not "close and reopen"."""
        return time.monotonic() - self.closed_at < 0.3
