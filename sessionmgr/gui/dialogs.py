"""Small dialogs: the pairing prompt, the log-out-of-all confirmation, settings.

Each is a view: it takes plain data, and the decision leaves by signal or
``exec()`` result. None of them touches the service or the disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sessionmgr.gui import describe, icons
from sessionmgr.settings import Settings


class PairingDialog(QDialog):
    """A browser helper asks to pair: show who, from where, and the code to compare."""

    decided = Signal(str, bool)  # pairing id, approved

    def __init__(self, pairing: dict[str, Any], parent: QWidget | None = None, *,
                 clock: Callable[[], float] = time.time):
        super().__init__(parent)
        self.pairing = pairing
        self._clock = clock
        self._decided = False
        name = pairing.get("name") or "A browser"
        self.setWindowTitle("Pair a browser?")
        self.setWindowIcon(icons.app_icon())
        self.setAccessibleName("Pairing request")

        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(48, 48))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        heading = QLabel(f"Pair “{_escape(name)}”?")
        heading_font = heading.font()
        heading_font.setPointSizeF(heading_font.pointSizeF() * 1.3)
        heading_font.setBold(True)
        heading.setFont(heading_font)
        heading.setWordWrap(True)
        intro = QLabel("A paired browser tells Session Manager who you are on each site "
                       "and receives your log in and log out requests.")
        intro.setWordWrap(True)
        origin = QLabel(f"From {_escape(pairing.get('origin') or 'an unknown origin')}")
        origin.setObjectName("origin")
        origin.setStyleSheet("color: palette(placeholder-text);")
        origin.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        check = QLabel("Approve only if the browser shows this same code:")
        check.setWordWrap(True)
        self.code = QLabel(str(pairing.get("code", "")))
        self.code.setObjectName("code")
        self.code.setAccessibleName(f"Comparison code {pairing.get('code', '')}")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setWeight(QFont.Weight.Bold)
        font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 4)
        self.code.setFont(font)
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code.setStyleSheet("QLabel#code { background: palette(base); border: 1px solid"
                                " palette(mid); border-radius: 6px; padding: 10px; }")
        self.countdown = QLabel()
        self.countdown.setObjectName("countdown")
        self.countdown.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.countdown.setStyleSheet("color: palette(placeholder-text);")

        buttons = QDialogButtonBox()
        self.approve_button = buttons.addButton("Approve", QDialogButtonBox.ButtonRole.AcceptRole)
        self.reject_button = buttons.addButton("Reject", QDialogButtonBox.ButtonRole.RejectRole)
        self.approve_button.setAccessibleName(f"Approve pairing with {name}")
        self.reject_button.setAccessibleName(f"Reject pairing with {name}")
        self.approve_button.setAutoDefault(False)  # Enter must not approve by accident
        self.reject_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        text = QVBoxLayout()
        text.setSpacing(8)
        for widget in (heading, intro, origin, check, self.code, self.countdown):
            text.addWidget(widget)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        body.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 14)
        layout.addLayout(body)
        layout.addSpacing(6)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)

        self._deadline = describe.parse_time(pairing.get("expires_at"))
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._tick()

    def pairing_id(self) -> str:
        return str(self.pairing.get("id", ""))

    def seconds_left(self) -> float | None:
        return None if self._deadline is None else self._deadline.timestamp() - self._clock()

    def _tick(self) -> None:
        left = self.seconds_left()
        if left is None:
            self.countdown.setText("")
            return
        if left <= 0:
            self.countdown.setText("This request has expired.")
            self.expire()
            return
        self.countdown.setText(f"Expires in {int(left) // 60}:{int(left) % 60:02d}")

    def expire(self) -> None:
        """The request ran out: close as rejected."""
        self.reject()

    def done(self, result: int) -> None:
        self._timer.stop()
        if not self._decided:
            self._decided = True
            self.decided.emit(self.pairing_id(), result == QDialog.DialogCode.Accepted)
        super().done(result)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class LogoutAllDialog(QDialog):
    """Says exactly which sites and accounts "Log out of all" touches."""

    def __init__(self, signed_in: list[tuple[str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Log out of all sites?")
        self.setWindowIcon(icons.app_icon())
        count = len(signed_in)
        plural = "site" if count == 1 else "sites"
        heading = QLabel(f"Log out of {count} {plural}?")
        heading_font = heading.font()
        heading_font.setPointSizeF(heading_font.pointSizeF() * 1.3)
        heading_font.setBold(True)
        heading.setFont(heading_font)
        text = QLabel("Each of these sites is asked to sign you out. Other devices and "
                      "browsers that are not paired keep their sessions.")
        text.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("sites")
        self.list.setAccessibleName("Sites you will be logged out of")
        for site, account in signed_in:
            self.list.addItem(f"{site} — {account}")
        rows = self.list.sizeHintForRow(0) if count else 20
        self.list.setFixedHeight(min(rows * max(count, 1) + 2 * self.list.frameWidth() + 4, 300))
        buttons = QDialogButtonBox()
        self.confirm = buttons.addButton(f"Log out of {count} {plural}",
                                         QDialogButtonBox.ButtonRole.AcceptRole)
        self.confirm.setAccessibleName(f"Log out of {count} {plural}")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter must never log out of everything: only a deliberate click does.
        self.confirm.setAutoDefault(False)
        cancel.setDefault(True)
        cancel.setFocus()
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 14)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(text)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)

    def entries(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]


class SettingsDialog(QDialog):
    """Edit :class:`Settings`; ``value()`` gives the result after ``accept``."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Session Manager settings")
        self.setWindowIcon(icons.app_icon())
        self.start_at_login = QCheckBox("Start Session Manager when I log in")
        self.start_at_login.setChecked(settings.start_at_login)
        self.notifications = QCheckBox("Show notifications")
        self.notifications.setChecked(settings.notifications)
        self.days = QSpinBox()
        self.days.setRange(1, 365)
        self.days.setSuffix(" days")
        self.days.setValue(settings.persist_days)
        self._settings = settings
        self.days.setAccessibleName("Stay signed in for")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("Any free port")
        self.port.setValue(settings.port)
        self.port.setAccessibleName("Port of the local service")
        self.port.setToolTip("Takes effect the next time Session Manager starts.")
        self.days.setToolTip("Takes effect the next time Session Manager starts.")
        form = QFormLayout()
        form.addRow(self.start_at_login)
        form.addRow(self.notifications)
        form.addRow("Stay signed in for:", self.days)
        form.addRow("Local service port:", self.port)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def value(self) -> Settings:
        return self._settings._replace(start_at_login=self.start_at_login.isChecked(),
                                       notifications=self.notifications.isChecked(),
                                       persist_days=self.days.value(), port=self.port.value())


__all__ = ["LogoutAllDialog", "PairingDialog", "SettingsDialog"]
