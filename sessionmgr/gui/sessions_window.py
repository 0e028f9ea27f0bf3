"""The sessions window: every site in a searchable table, the event log, and
the paired browsers. A view over the shared models; actions leave as signals.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sessionmgr.gui import icons
from sessionmgr.gui.models import (
    EventsModel,
    HelpersModel,
    SiteFilterProxy,
    SiteTableModel,
)

State = dict[str, Any]


def _table(name: str, accessible: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    # Fixed row heights: the view never measures 10,000 rows.
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setHighlightSections(False)
    return view


class SessionsWindow(QWidget):
    login_requested = Signal(str, object, bool)   # site, account or None, persistent
    logout_requested = Signal(str)
    forget_requested = Signal(str)
    cancel_persistent_requested = Signal(str)
    revoke_requested = Signal(str)                # helper id
    settings_requested = Signal()
    closed = Signal()  # the sites' rows may go: they are loaded again when it is shown

    def __init__(self, sites: SiteTableModel, events: EventsModel, helpers: HelpersModel,
                 parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Session Manager")
        self.setWindowIcon(icons.app_icon())
        self.setObjectName("sessions-window")
        self.sites = sites
        self.proxy = SiteFilterProxy(sites, self)
        self.events = events
        self.helpers = helpers

        self.tabs = QTabWidget()
        self.tabs.addTab(self._sites_tab(), "Sites")
        self.tabs.addTab(self._events_tab(), "Activity")
        self.tabs.addTab(self._helpers_tab(), "Paired browsers")
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel#notice { background:#dbeafe; color:#1e3a8a;"
                                  " border-left:4px solid #1e3a8a; padding:6px 8px; }")
        self.notice.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.notice)
        layout.addWidget(self.tabs)
        self.resize(1000, 560)

        for signal in (sites.rowsInserted, sites.rowsRemoved, sites.modelReset,
                       self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._update_count)
        sites.dataChanged.connect(self._on_sites_changed)
        self._update_count()
        self._update_actions()

    def closeEvent(self, event: Any) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()

    # -- sites tab --

    def _sites_tab(self) -> QWidget:
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search sites and accounts")
        self.search.setAccessibleName("Search sites and accounts")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_needle)
        find = QAction(self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.search.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self.addAction(find)
        self.count = QLabel()
        self.count.setObjectName("count")

        self.table = _table("sites", "Sites")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        for column, width in enumerate((190, 210, 200, 110, 150)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        self.switch_button = QPushButton("Switch to")
        self.switch_button.setAccessibleName("Switch account")
        self.switch_menu = QMenu(self.switch_button)
        self.switch_button.setMenu(self.switch_menu)
        self.logout_button = QPushButton("Log out")
        self.logout_button.setAccessibleName("Log out of the selected site")
        self.logout_button.clicked.connect(lambda: self._with_site(self.logout_requested.emit))
        self.undo_button = QPushButton("Stop staying signed in")
        self.undo_button.setAccessibleName("Stop staying signed in to the selected site")
        self.undo_button.clicked.connect(
            lambda: self._with_site(self.cancel_persistent_requested.emit))
        self.forget_button = QPushButton("Forget site")
        self.forget_button.setAccessibleName("Forget the selected site")
        self.forget_button.clicked.connect(lambda: self._with_site(self.forget_requested.emit))
        settings = QPushButton("Settings…")
        settings.setAccessibleName("Settings")
        settings.clicked.connect(self.settings_requested.emit)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.count)
        actions = QHBoxLayout()
        for button in (self.switch_button, self.logout_button, self.undo_button,
                       self.forget_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(settings)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        return tab

    def selected_state(self) -> State | None:
        rows = self.table.selectionModel().selectedRows()
        return self.sites.state_at(self.proxy.mapToSource(rows[0]).row()) if rows else None

    def select_site(self, site: str) -> bool:
        row = self.sites.row_of(site)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.sites.index(row, 0))
        if not index.isValid():
            self.search.clear()
            index = self.proxy.mapFromSource(self.sites.index(row, 0))
        self.table.selectRow(index.row())
        self.table.scrollTo(index)
        return True

    def _with_site(self, action: Any) -> None:
        state = self.selected_state()
        if state:
            action(state["site"])

    def _on_sites_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            row = self.proxy.mapToSource(rows[0]).row()
            if top_left.row() <= row <= bottom_right.row():
                self._update_actions()

    def _update_actions(self) -> None:
        state = self.selected_state()
        others = self._switch_targets(state)
        self.switch_menu.clear()
        for account in others:
            action = self.switch_menu.addAction(account)
            action.triggered.connect(
                lambda _=False, site=state["site"], who=account:  # type: ignore[index]
                self.login_requested.emit(site, who, False))
        self.switch_button.setText("Switch to" if state and state.get("active") else "Log in as")
        self.switch_button.setEnabled(bool(others))
        self.logout_button.setEnabled(bool(state and state.get("active")))
        self.undo_button.setEnabled(bool(state and state.get("persistent")))
        self.forget_button.setEnabled(state is not None)

    @staticmethod
    def _switch_targets(state: State | None) -> list[str]:
        if not state or not state.get("supported") or state.get("api") == "login-status":
            return []
        return [s["email"] for s in state.get("sessions") or ()
                if s.get("email") != state.get("active")]

    def _context_menu(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        if self.switch_button.isEnabled():
            sub = menu.addMenu(self.switch_button.text())
            for action in self.switch_menu.actions():
                sub.addAction(action)
        for button in (self.logout_button, self.undo_button, self.forget_button):
            if button.isEnabled():
                menu.addAction(button.text(), button.click)
        if not menu.isEmpty():
            menu.popup(self.table.viewport().mapToGlobal(point))

    def _update_count(self, *_: Any) -> None:
        total, shown = self.sites.rowCount(), self.proxy.rowCount()
        noun = "site" if total == 1 else "sites"
        text = f"{total:,} {noun}" if shown == total else f"{shown:,} of {total:,} {noun}"
        self.count.setText(text)

    # -- activity tab --

    def _events_tab(self) -> QWidget:
        self.events_table = _table("events", "Activity")
        self.events_table.setModel(self.events)
        for column, width in enumerate((140, 150, 290, 160)):
            self.events_table.setColumnWidth(column, width)
        hint = QLabel("What was sent to your browsers, newest first, and whether each "
                      "paired browser received it.")
        hint.setWordWrap(True)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(hint)
        layout.addWidget(self.events_table, 1)
        return tab

    # -- paired browsers tab --

    def _helpers_tab(self) -> QWidget:
        self.helpers_table = _table("helpers", "Paired browsers")
        self.helpers_table.setModel(self.helpers)
        for column, width in enumerate((200, 260, 140, 100)):
            self.helpers_table.setColumnWidth(column, width)
        self.revoke_button = QPushButton("Revoke")
        self.revoke_button.setAccessibleName("Revoke the selected browser")
        self.revoke_button.setEnabled(False)
        self.revoke_button.clicked.connect(self._revoke)
        self.helpers_table.selectionModel().selectionChanged.connect(
            lambda *_: self.revoke_button.setEnabled(self._selected_helper() is not None))
        hint = QLabel("Browsers that report sites and receive log in and log out requests. "
                      "Revoking one stops it at once; it can pair again later.")
        hint.setWordWrap(True)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.revoke_button)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(hint)
        layout.addWidget(self.helpers_table, 1)
        layout.addLayout(actions)
        return tab

    def _selected_helper(self) -> dict[str, Any] | None:
        rows = self.helpers_table.selectionModel().selectedRows()
        return self.helpers.item(rows[0].row()) if rows else None

    def _revoke(self) -> None:
        helper = self._selected_helper()
        if helper:
            self.revoke_requested.emit(helper["id"])

    def show_notice(self, text: str) -> None:
        """A message that belongs to the window rather than a dialog of its own."""
        self.notice.setText(text)
        self.notice.setAccessibleName(text)
        self.notice.setVisible(bool(text))

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex({"sites": 0, "activity": 1, "browsers": 2}.get(name, 0))
        self.show()
        self.raise_()
        self.activateWindow()
