"""Item models over the service's JSON: sites, events, paired browsers.

The sites model keeps itself sorted (sorting 10,000 rows through a proxy that
asks Python for every comparison takes a second; sorting a Python list takes
milliseconds) and changes by single rows, so live updates never reset the
view. The proxy only filters, against a lower-cased text precomputed per row.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
)

from sessionmgr.core.model import SiteRecord
from sessionmgr.gui import describe, icons

if TYPE_CHECKING:
    from collections.abc import Iterable

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QBrush

State = dict[str, Any]
Index = QModelIndex | QPersistentModelIndex

# The row's identity (site, event id, helper id). Whole dicts are never passed
# through QVariant: it copies them, and PySide6 6.12 miscounts references to
# the None/True/False inside (a crash at exit); views ask the model instead.
KEY_ROLE = 0x0100 + 2  # Qt.ItemDataRole.UserRole + 2

UNDELIVERED_CODES = ("undelivered", "helper_gone")

# Roles are Qt's plain ints (Qt.ItemDataRole), and the Qt namespace is reached through
# ``QtCore.Qt`` inside methods: naming ``Qt`` at import makes PySide6 build all ~100 of
# its enum classes (~10 ms), on the tray's start-up path, where no view asks for data.
_DISPLAY, _DECORATION, _TOOLTIP, _FONT, _FOREGROUND = 0, 1, 3, 6, 9


def _muted() -> QBrush:
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    palette = QApplication.palette()
    return palette.brush(QPalette.ColorGroup.Active, QPalette.ColorRole.PlaceholderText)


# -- sites -------------------------------------------------------------------


Session = tuple[str, str, str | None]  # identifier, effective status, binding cookie


def _cookie(bound: dict[str, Any] | None) -> str | None:
    if not bound:
        return None
    name = bound.get("cookie_name") or bound.get("name")
    return sys.intern(name) if isinstance(name, str) else None


def _bound(cookie: str | None) -> dict[str, str] | None:
    return {"type": "cookie", "cookie_name": cookie} if cookie else None


class _Row:
    """One site from a SiteState dict (a service that answers in JSON), stored
    compactly: as JSON dicts 10,000 sites with five accounts each take about 45 MiB;
    as slots and tuples of interned strings, a fraction. ``state()`` gives the
    SiteState dict back for the few places that need it."""

    __slots__ = ("active", "api", "attention", "binding", "focused", "hay_text", "indicator",
                 "key", "pending", "persistent", "sessions", "site", "source", "supported",
                 "updated_at")

    def __init__(self, state: State) -> None:
        intern = sys.intern
        active = state.get("active")
        indicator = state.get("indicator")
        self.site: str = intern(state["site"])
        self.supported = bool(state.get("supported"))
        self.api: str = intern(state.get("api") or "sessions")
        self.active: str | None = intern(active) if active else None
        self.indicator: str | None = intern(indicator) if isinstance(indicator, str) else None
        self.sessions: tuple[Session, ...] = tuple(
            (intern(s["email"]), intern(s.get("status") or "active"), _cookie(s.get("bound_to")))
            for s in state.get("sessions") or ())
        self.binding = _cookie(state.get("binding"))
        self.source: str = intern(state.get("source") or "none")
        self.pending: dict[str, Any] | None = state.get("pending")
        self.persistent: dict[str, Any] | None = state.get("persistent")
        self.attention: dict[str, Any] | None = state.get("attention")
        self.updated_at: Any = state.get("updated_at")
        self.focused = bool(state.get("focused"))
        self.key: Any = None  # sort key for the current column (see model)
        self.hay_text: str | None = None  # what the search box matches, made on demand

    def state(self) -> State:
        return {
            "site": self.site, "supported": self.supported, "indicator": self.indicator,
            "active": self.active,
            "sessions": [{"email": e, "status": st, "bound_to": _bound(c)}
                         for e, st, c in self.sessions],
            "binding": _bound(self.binding), "source": self.source, "pending": self.pending,
            "persistent": self.persistent, "updated_at": self.updated_at,
            "focused": self.focused, "api": self.api, "attention": self.attention,
        }

    @property
    def anonymous(self) -> bool:
        return self.api == "login-status"

    @property
    def signed_in(self) -> bool:
        return self.supported and (bool(self.active) or self.indicator not in (None, "login"))

    def search_text(self) -> str:
        return " ".join((self.site, self.active or "", SiteTableModel._text(self, 2),
                         SiteTableModel._text(self, 3))).lower()


class RecordRow:
    """One site straight from the core's immutable :class:`SiteRecord`: the row keeps
    the record (shared with the service, nothing copied) and makes words and dicts
    only when a view asks, so 10,000 sites cost a small object each (six slots: 80
    bytes; the site is the record's).

    ``focused`` and ``now`` are the service's at the time of reading, so
    ``state()`` is exactly the SiteState the service would have answered then.
    """

    __slots__ = ("active", "focused", "hay_text", "key", "now", "record")

    def __init__(self, record: SiteRecord, focused: bool, now: float):
        self.record = record
        self.focused = focused
        self.now = now
        self.active = record.active
        self.key: Any = None
        self.hay_text: str | None = None

    @property
    def site(self) -> str:
        return self.record.site

    @property
    def supported(self) -> bool:
        return self.record.sessions is not None

    @property
    def api(self) -> str:
        return self.record.api

    @property
    def indicator(self) -> str | None:
        return (self.active or "login") if self.supported else None

    @property
    def sessions(self) -> tuple[Session, ...]:
        return tuple((s.email, status, s.bound_to.cookie_name if s.bound_to else None)
                     for s, status in self.record.effective)

    @property
    def binding(self) -> str | None:
        binding = self.record.binding
        return binding.cookie_name if binding else None

    @property
    def pending(self) -> dict[str, Any] | None:
        pending = self.record.pending
        return pending.to_json() if pending else None

    @property
    def persistent(self) -> dict[str, Any] | None:
        persistent = self.record.persistent_at(self.now)
        return persistent.to_json() if persistent else None

    @property
    def attention(self) -> dict[str, Any] | None:
        attention = self.record.attention
        return attention.to_json() if attention else None

    @property
    def updated_at(self) -> float:
        return self.record.updated_at

    @property
    def anonymous(self) -> bool:
        return self.record.api == "login-status"

    @property
    def signed_in(self) -> bool:
        return self.supported and (bool(self.active) or self.indicator not in (None, "login"))

    def state(self) -> State:
        return self.record.to_json(now=self.now, focused=self.focused)

    def search_text(self) -> str:
        """What :meth:`_Row.search_text` gives, straight from the record (10,000
        rows: 7 ms instead of 18 at the first search)."""
        record, active = self.record, self.active
        others = ", ".join(s.email for s in record.sessions or () if s.email != active)
        binding = f"cookie {record.binding.cookie_name}" if record.binding else ""
        return " ".join((self.site, active or "", others, binding)).lower()


Row = _Row | RecordRow


def prepare_site(state: State | Row | SiteRecord | None) -> Row | None:
    """SiteState dict (or a change's record from before it) to table row; rows pass
    through. Pure Python, so the bridge runs it on its worker."""
    if state is None or isinstance(state, _Row | RecordRow):
        return state
    if isinstance(state, SiteRecord):
        return RecordRow(state, False, time.time())
    return _Row(state)


def signed_in_accounts(rows: Iterable[Row]) -> list[tuple[str, str]]:
    """(site, who) for each signed-in row, as "log out of all" lists them."""
    return [(row.site, "signed in" if row.anonymous else row.active)
            for row in rows if row.active]


def record_rows(records: list[SiteRecord], focused: str | None, now: float) -> list[Row]:
    """Rows for the service's records (as read by ``SessionService.site_records``)."""
    return [RecordRow(record, record.site == focused, now) for record in records]


def _as_row(state: State | Row) -> Row:
    if type(state) is RecordRow or isinstance(state, _Row):  # the common case tested first
        return state
    return _Row(state)  # type: ignore[arg-type]


def _undelivered(row: Row) -> bool:
    """Whether the row's last event did not reach a browser (without building dicts)."""
    if type(row) is RecordRow:
        attention = row.record.attention
        return attention is not None and attention.code in UNDELIVERED_CODES
    return (row.attention or {}).get("code") in UNDELIVERED_CODES


def _look(row: Row) -> tuple[icons.IconKind, bool]:
    """:func:`icons.icon_for` of the row's state, without building the state."""
    if not row.supported:
        kind = icons.IconKind.NEUTRAL
    elif row.pending:
        kind = icons.IconKind.PENDING
    elif row.signed_in:
        kind = icons.IconKind.SIGNED_IN
    else:
        kind = icons.IconKind.LOGIN
    return kind, bool(row.attention)


class _Table(QAbstractTableModel):
    """Fixed, named columns: the header and column count every table here shares."""

    COLUMNS: tuple[str, ...] = ()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = _DISPLAY) -> Any:
        horizontal = orientation == QtCore.Qt.Orientation.Horizontal
        if horizontal and role == _DISPLAY and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None


class SiteTableModel(_Table):
    """Every site the daemon knows, one row each, kept sorted."""

    COLUMNS = ("Site", "Signed in as", "Other accounts", "Cookie binding",
               "Stays signed in until", "Last update")

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[Row] = []  # sorted by each row's ``key``
        # A row's position is found by binary search on its key (unique: keys end with
        # the site), 14 steps at 10,000 rows, not kept per site (10,000 int objects,
        # renumbered on every insert). Sorted by site, as at start-up, the keys are the
        # sites; sorted otherwise, this index finds a site's row, and with it its key.
        self._index: dict[str, Row] | None = None
        self._undelivered: set[str] = set()
        self._sort_column = 0
        self._descending = False

    # -- reading --

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == _DISPLAY:
            return self._text(row, column)
        if role == KEY_ROLE:
            return row.site
        if role == _TOOLTIP:
            return describe.tooltip(row.state())
        if role == _DECORATION and column == 0:
            return icons.tray_icon(*_look(row))
        if role == _FONT and column == 1 and row.pending:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setItalic(True)
            return font
        if role == _FOREGROUND and column == 1 and not row.active:
            return _muted()
        return None

    @staticmethod
    def _text(row: Row, column: int) -> str:
        if column == 0:
            return row.site
        if column == 1:
            if row.pending:
                return describe.pending_text(row.pending, row.site).split(" — ")[0] + "…"
            if row.anonymous and row.signed_in:
                return "Signed in (anonymous)"
            if row.active:
                return row.active
            return "Not signed in" if row.supported else "—"
        if column == 2:
            return ", ".join(email for email, _, _ in row.sessions if email != row.active)
        if column == 3:
            return f"cookie {row.binding}" if row.binding else ""
        if column == 4:
            return describe.when((row.persistent or {}).get("expires"), with_time=False)
        if column == 5:
            return describe.when(row.updated_at)
        return ""

    def _sort_key(self, row: Row) -> Any:
        """What the current column sorts by, then the site; by site alone for the
        site column (as at start-up): the row's own string, not a tuple per row."""
        column = self._sort_column
        if column == 0:  # site keys are lower-case already
            return row.site
        if column in (4, 5):
            value = (row.persistent or {}).get("expires") if column == 4 else row.updated_at
            moment = describe.parse_time(value)
            return (moment.timestamp() if moment else 0.0, row.site)
        text = self._text(row, column)
        lowered = text.lower()  # site keys are lower-case already: keep one string, not two
        return (text if lowered == text else lowered, row.site)

    def _keep(self, row: Row) -> None:
        """What the model keeps beside a new or changed row; its key last."""
        if _undelivered(row):
            self._undelivered.add(row.site)
        else:
            self._undelivered.discard(row.site)
        row.key = self._sort_key(row)

    # -- queries the rest of the GUI uses --

    def state(self, site: str | None) -> State | None:
        at = self._find(site) if site else -1
        return None if at < 0 else self._rows[at].state()

    def state_at(self, row: int) -> State | None:
        return self._rows[row].state() if 0 <= row < len(self._rows) else None

    def row_of(self, site: str) -> int:
        return self._find(site)

    def matches(self, row: int, needle: str) -> bool:
        found = self._rows[row]
        if found.hay_text is None:  # made at the first search
            found.hay_text = found.search_text()
        return needle in found.hay_text

    def undelivered_count(self) -> int:
        """Sites where an event could not reach any browser (the tray's badge)."""
        return len(self._undelivered)

    def states(self) -> list[State]:
        return [row.state() for row in self._rows]

    def signed_in(self, limit: int | None = None) -> tuple[list[State], int]:
        """The first ``limit`` sites with an active account (as "log out of all"
        would touch them), and how many there are in all."""
        rows = [row for row in self._rows if row.active]
        return [row.state() for row in rows[:limit]], len(rows)

    def signed_in_accounts(self) -> list[tuple[str, str]]:
        """(site, who) for every signed-in site, without building whole states."""
        return signed_in_accounts(self._rows)

    # -- writing --

    def reset(self, states: list[State] | list[Row]) -> None:
        """Replace everything (start-up only). Rows made by :func:`prepare_site` on a
        worker thread keep the expensive part off the GUI thread."""
        self.beginResetModel()
        rows = [_as_row(s) for s in states]
        self._undelivered = {row.site for row in rows if _undelivered(row)}
        key = self._sort_key
        for row in rows:
            row.key = key(row)
        self._rows = rows
        self._sort_rows(rekey=False)
        self.endResetModel()

    def apply(self, changes: dict[str, State | Row | None]) -> None:
        """Apply ``{site: state or None}`` row by row: update, move, insert or remove."""
        for site, state in changes.items():
            if state is None:
                self._remove(site)
            else:
                self._upsert(state)

    def _upsert(self, state: State | Row) -> None:
        row = _as_row(state)
        site = row.site
        old = self._find(site)  # before re-keying (the row may be the one already here)
        self._keep(row)
        if self._index is not None:
            self._index[site] = row
        if old < 0:
            at = self._position(row.key)
            self.beginInsertRows(QModelIndex(), at, at)
            self._rows.insert(at, row)
            self.endInsertRows()
            return
        rows = self._rows
        in_place = (old == 0 or self._before(rows[old - 1].key, row.key)) and (
            old == len(rows) - 1 or self._before(row.key, rows[old + 1].key))
        if not in_place:
            del rows[old]
            target = self._position(row.key)
            rows.insert(old, row)
            self.beginMoveRows(QModelIndex(), old, old, QModelIndex(),
                               target if target < old else target + 1)
            del rows[old]
            rows.insert(target, row)
            self.endMoveRows()
            old = target
        rows[old] = row
        self.dataChanged.emit(self.index(old, 0), self.index(old, len(self.COLUMNS) - 1))

    def _remove(self, site: str) -> None:
        row = self._find(site)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        if self._index is not None:
            del self._index[site]
        self._undelivered.discard(site)
        self.endRemoveRows()

    def _find(self, site: str) -> int:
        """The row of ``site``, or -1."""
        if self._index is None:  # sorted by site: the sites are the keys
            at = self._position(site)
            rows = self._rows
            return at if at < len(rows) and rows[at].site == site else -1
        found = self._index.get(site)
        return -1 if found is None else self._position(found.key)

    def _before(self, a: Any, b: Any) -> bool:
        """Does key ``a`` sort strictly before key ``b`` in the current order?"""
        return a > b if self._descending else a < b

    def _position(self, key: Any) -> int:
        """Binary search for the row where ``key`` belongs (or is)."""
        lo, hi = 0, len(self._rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._before(self._rows[mid].key, key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _sort_rows(self, rekey: bool = True) -> None:
        if rekey:
            for row in self._rows:
                row.key = self._sort_key(row)
        self._rows.sort(key=lambda r: r.key, reverse=self._descending)
        self._index = None if self._sort_column == 0 else {row.site: row for row in self._rows}

    def sort(self, column: int, order: Qt.SortOrder | None = None) -> None:
        if not 0 <= column < len(self.COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        sites = [self._rows[i.row()].site for i in persistent]
        self._sort_column = column
        self._descending = order == QtCore.Qt.SortOrder.DescendingOrder
        self._sort_rows()
        self.changePersistentIndexList(
            persistent, [self.index(self.row_of(s), i.column()) for s, i in zip(sites, persistent,
                                                                                 strict=True)])
        self.layoutChanged.emit()


class SiteFilterProxy(QSortFilterProxyModel):
    """Filters by a case-insensitive substring; sorting is the source's job."""

    def __init__(self, source: SiteTableModel, parent: QObject | None = None):
        super().__init__(parent)
        self._needle = ""
        self._sites = source
        self.setSourceModel(source)
        self.setDynamicSortFilter(False)

    def set_needle(self, text: str) -> None:
        needle = text.strip().lower()
        if needle == self._needle:
            return
        self.beginFilterChange()
        self._needle = needle
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        return not self._needle or self._sites.matches(source_row, self._needle)

    def sort(self, column: int, order: Qt.SortOrder | None = None) -> None:
        self._sites.sort(column, order)


# -- lists keyed by id (events, helpers) -------------------------------------


class _KeyedListModel(_Table):
    """A table over a list of dicts with an ``id``; ``set_items`` applies the
    difference row by row, so selections and scroll positions survive."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._items: list[dict[str, Any]] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == KEY_ROLE:
            return item.get("id")
        if role in (_DISPLAY, _TOOLTIP):
            return self.text(item, index.column(), tooltip=role == _TOOLTIP)
        return None

    def text(self, item: dict[str, Any], column: int, tooltip: bool = False) -> str | None:
        raise NotImplementedError

    def item(self, row: int) -> dict[str, Any] | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[dict[str, Any]]:
        return list(self._items)

    def set_items(self, items: list[dict[str, Any]]) -> None:
        wanted = {item.get("id") for item in items}
        for row in range(len(self._items) - 1, -1, -1):
            if self._items[row].get("id") not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self.endRemoveRows()
        for row, item in enumerate(items):
            current = self._items[row] if row < len(self._items) else None
            if current is not None and current.get("id") == item.get("id"):
                if current != item:
                    self._items[row] = item
                    self.dataChanged.emit(self.index(row, 0),
                                          self.index(row, len(self.COLUMNS) - 1))
                continue
            # A new item, or an old one that moved: take it out, put it here.
            for later in range(row + 1, len(self._items)):
                if self._items[later].get("id") == item.get("id"):
                    self.beginRemoveRows(QModelIndex(), later, later)
                    del self._items[later]
                    self.endRemoveRows()
                    break
            self.beginInsertRows(QModelIndex(), row, row)
            self._items.insert(row, item)
            self.endInsertRows()


OUTCOMES = {
    "pending": "Waiting for the site",
    "confirmed": "Done",
    "no_response": "The site did not respond",
    "superseded": "Replaced by a later action",
}


def event_summary(event: dict[str, Any]) -> str:
    account = event.get("account") or ""
    if event.get("type") == "logout":
        return f"Log out {account}".strip()
    if event.get("previous"):
        text = f"Switch to {account}"
    else:
        text = f"Log in as {account}" if account else "Log in"
    return text + (", stay signed in" if event.get("persistent") else "")


class EventsModel(_KeyedListModel):
    """The event log, newest first, with what each paired browser did with it."""

    COLUMNS = ("Time", "Site", "Action", "Outcome", "Delivery")

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._helper_names: dict[str, str] = {}

    def set_helper_names(self, names: dict[str, str]) -> None:
        if names != self._helper_names:
            self._helper_names = names
            if self._items:
                self.dataChanged.emit(self.index(0, 4), self.index(len(self._items) - 1, 4))

    def delivery_text(self, event: dict[str, Any]) -> str:
        parts = []
        for delivery in event.get("deliveries") or ():
            name = self._helper_names.get(delivery.get("helper_id"), "a removed browser")
            status = delivery.get("status", "?")
            if status == "failed" and delivery.get("last_error"):
                status = f"failed ({delivery['last_error']})"
            elif status == "pending" and delivery.get("attempts"):
                status = f"retrying ({delivery['attempts']} attempts)"
            parts.append(f"{name}: {status}")
        return "; ".join(parts) or "No paired browser"

    def text(self, item: dict[str, Any], column: int, tooltip: bool = False) -> str | None:
        if column == 0:
            return describe.when(item.get("created_at"))
        if column == 1:
            return item.get("site", "")
        if column == 2:
            summary = event_summary(item)
            if tooltip and item.get("previous"):
                summary += f" (from {item['previous']})"
            return summary
        if column == 3:
            return OUTCOMES.get(item.get("outcome", ""), item.get("outcome", ""))
        if column == 4:
            return self.delivery_text(item)
        return None


class HelpersModel(_KeyedListModel):
    """Paired browsers."""

    COLUMNS = ("Browser", "Origin", "Comparison code", "Status", "Last seen")

    def text(self, item: dict[str, Any], column: int, tooltip: bool = False) -> str | None:
        if column == 0:
            return item.get("name", "")
        if column == 1:
            return item.get("origin") or ""
        if column == 2:
            return item.get("code") or ""
        if column == 3:
            return str(item.get("status", "")).capitalize()
        if column == 4:
            return describe.when(item.get("last_seen")) or "Never"
        return None
