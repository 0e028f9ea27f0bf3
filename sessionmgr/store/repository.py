"""The tables and every query sessionmgr runs against them."""

from __future__ import annotations

import contextlib
import gc
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sessionmgr.core.model import Event, Outcome, SiteRecord
from sessionmgr.events.dispatcher import Delivery
from sessionmgr.store.db import Database

T = TypeVar("T")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Statement by statement: ``executescript`` would commit the open transaction."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _schema_v1(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE sites (
            site TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (json_valid(state)),
            pending_event TEXT,
            updated_at REAL NOT NULL
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL CHECK (type IN ('login', 'logout')),
            site TEXT NOT NULL,
            account TEXT,
            previous TEXT,
            persistent INTEGER NOT NULL,
            created_at REAL NOT NULL,
            outcome TEXT NOT NULL DEFAULT 'pending',
            body BLOB NOT NULL
        );
        CREATE INDEX events_site ON events (site, seq);
        CREATE TABLE helpers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            origin TEXT,
            events_url TEXT NOT NULL,
            code TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'gone')),
            status_reason TEXT,
            created_at REAL NOT NULL,
            last_seen REAL
        );
        CREATE TABLE helper_sites (
            helper_id TEXT NOT NULL REFERENCES helpers (id) ON DELETE CASCADE,
            site TEXT NOT NULL,
            PRIMARY KEY (helper_id, site)
        );
        CREATE TABLE deliveries (
            event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
            helper_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            first_attempt_at REAL,
            next_attempt_at REAL,
            last_error TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (event_id, helper_id)
        );
        CREATE INDEX deliveries_queue ON deliveries (helper_id, status, seq);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    )


def _schema_v2(conn: sqlite3.Connection) -> None:
    """Persistent logins name the public key the site should register."""
    conn.execute("ALTER TABLE events ADD COLUMN public_key TEXT")


def _schema_v3(conn: sqlite3.Connection) -> None:
    """Sites' state in the compact stored form (``SiteRecord.to_row``): start-up parses
    every site's, and the schema-2 form took twice the bytes and the time."""
    rows = conn.execute("SELECT site, state FROM sites").fetchall()
    conn.executemany(
        "UPDATE sites SET state = ? WHERE site = ?",
        [(_dumps(_compact_v2_state(json.loads(state))), site) for site, state in rows],
    )


def _compact_v2_state(old: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 state (sessions, bindings and choices as objects) in the schema-3 form."""
    row: dict[str, Any] = {}
    if old.get("sessions") is not None:
        row["sessions"] = []
        for session in old["sessions"]:
            entry = [session["email"], session.get("status", "active")]
            if session.get("bound_to"):
                entry.append(session["bound_to"]["cookie_name"])
            row["sessions"].append(entry)
    if old.get("binding"):
        row["binding"] = old["binding"]["cookie_name"]
    if old.get("source", "none") != "none":
        row["source"] = old["source"]
    if old.get("api", "sessions") != "sessions":
        row["api"] = old["api"]
    for key in ("persistent", "persist_intent"):
        if old.get(key):
            row[key] = [old[key]["id"], old[key]["expires"]]
    if old.get("attention"):
        row["attention"] = old["attention"]
    return row


def _schema_v4(conn: sqlite3.Connection) -> None:
    """Sites stay on disk (the service keeps only those in use), with what reads of
    many sites need as columns: who is signed in and what the last action needs the
    user to know (the tray's summary is an indexed query), and the API's answer for
    the site, so listing every site sends stored bytes instead of re-encoding each."""
    conn.execute("ALTER TABLE sites ADD COLUMN active TEXT")
    conn.execute("ALTER TABLE sites ADD COLUMN attention TEXT")
    conn.execute("ALTER TABLE sites ADD COLUMN answer BLOB")
    conn.execute("ALTER TABLE sites ADD COLUMN answer_until REAL")
    now = time.time()
    rows = conn.execute("SELECT site, state, pending_event, updated_at FROM sites").fetchall()
    for site, state, pending_event, updated_at in rows:
        pending = Store._event(conn, pending_event) if pending_event else None
        record = SiteRecord.from_row(
            site, json.loads(state), updated_at=updated_at, pending=pending
        )
        persistent = record.persistent_at(now)
        conn.execute(
            "UPDATE sites SET active = ?, attention = ?, answer = ?, answer_until = ?"
            " WHERE site = ?",
            (
                record.active,
                record.attention.code if record.attention else None,
                json.dumps(record.to_json(now=now)).encode(),
                persistent.expires if persistent else None,
                site,
            ),
        )
    # The signed-in sites as a table of their own, not an index on ``active``: a switch
    # of account (the common change) then writes no index page (a change: 59 -> 51 us).
    conn.execute("CREATE TABLE signed_in (site TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("INSERT INTO signed_in SELECT site FROM sites WHERE active IS NOT NULL")
    conn.execute("CREATE INDEX sites_attention ON sites (attention) WHERE attention IS NOT NULL")


MIGRATIONS = [_schema_v1, _schema_v2, _schema_v3, _schema_v4]


class Changes:
    """Everything one command writes, committed in one transaction."""

    __slots__ = ("answers", "deleted_sites", "events", "helper_sites", "outcomes", "sites")

    def __init__(
        self,
        *,
        sites: list[SiteRecord] | None = None,
        deleted_sites: list[str] | None = None,
        events: list[tuple[Event, Sequence[str]]] | None = None,  # (event, helper ids)
        outcomes: dict[str, Outcome] | None = None,
        helper_sites: list[tuple[str, str]] | None = None,
    ) -> None:
        self.sites = sites or []
        self.deleted_sites = deleted_sites or []
        self.events = events or []
        self.outcomes = outcomes or {}
        self.helper_sites = helper_sites or []
        # Per changed site: its API answer (unfocused) and until when it holds (None:
        # for good). A site without one is stored without, and made when read.
        self.answers: dict[str, tuple[bytes, float | None]] = {}

    def __bool__(self) -> bool:
        return bool(
            self.sites or self.deleted_sites or self.events or self.outcomes or self.helper_sites
        )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Loading every site makes objects that all live on: the cyclic collector
    would walk them again and again for nothing (a fifth of the load time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# SQLite's page cache, in KiB (a negative cache_size; its default is 2 MiB). Sites live on
# disk and the service keeps those in use: the cache needs the tables' upper pages and
# the hot leaves. A scan of every site would fill the default cache with pages never
# read again, and once malloc'd, SQLite never gives them back to the system.
CACHE_KIB = 256


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def event_body(event: Event) -> bytes:
    """The exact bytes a webhook carries; stored so retries resend them unchanged."""
    return json.dumps(event.wire_json(), separators=(",", ":")).encode()


class Store:
    """sessionmgr's persistent state; the only place that knows the schema."""

    def __init__(self, path: Path):
        self.db = Database(path, MIGRATIONS)
        with self.db.read() as conn:
            conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")

    def close(self) -> None:
        self.db.close()

    # -- sites -------------------------------------------------------------

    _SITE_COLUMNS = "SELECT site, state, pending_event, updated_at FROM sites"

    def _records(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[SiteRecord]:
        """Stored rows back as records. JSON states are parsed as one document per
        batch: a third faster than one ``json.loads`` per site."""
        if not rows:
            return []
        states = json.loads("[" + ",".join([row[1] for row in rows]) + "]")
        return SiteRecord.from_rows(
            (site, state, updated_at, self._event(conn, pending) if pending else None)
            for (site, _, pending, updated_at), state in zip(rows, states, strict=True)
        )

    def _query_sites(self, sql: str, params: Sequence[Any] = ()) -> list[SiteRecord]:
        with self.db.read() as conn, _no_gc():
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples: no sqlite3.Row per site
            return self._records(conn, cursor.execute(sql, params).fetchall())

    def load_site(self, site: str) -> SiteRecord | None:
        found = self._query_sites(self._SITE_COLUMNS + " WHERE site = ?", (site,))
        return found[0] if found else None

    SCAN_PAGE = 256    # parsed sites per read of a scan
    ANSWER_PAGE = 1024  # stored answers per read (bytes only: no parsing)

    @staticmethod
    def _paged(read: Callable[[str], list[T]], size: int, key: Callable[[T], str]) -> Iterator[T]:
        """Rows in site order, ``size`` at a time, each page its own read (``read(after)``,
        keyed on the last site seen): the caller may write between pages, and a scan
        never holds more than a page."""
        after = ""
        while True:
            page = read(after)
            yield from page
            if len(page) < size:
                return
            after = key(page[-1])

    def iter_sites(self, *, signed_in: bool = False) -> Iterator[SiteRecord]:
        """Every site (or every one with an active account) in site order."""
        sql = self._SITE_COLUMNS + " WHERE site > ?"
        if signed_in:
            sql += " AND site IN (SELECT site FROM signed_in)"
        sql += " ORDER BY site LIMIT ?"
        return self._paged(
            lambda after: self._query_sites(sql, (after, self.SCAN_PAGE)),
            self.SCAN_PAGE,
            lambda record: record.site,
        )

    def iter_answers(self) -> Iterator[tuple[str, bytes | None, float | None]]:
        """(site, stored API answer or None, until when it holds) for every site in
        site order."""

        def read(after: str) -> list[tuple[str, bytes | None, float | None]]:
            with self.db.read() as conn:
                cursor = conn.cursor()
                cursor.row_factory = None
                return cursor.execute(
                    "SELECT site, answer, answer_until FROM sites WHERE site > ?"
                    " ORDER BY site LIMIT ?",
                    (after, self.ANSWER_PAGE),
                ).fetchall()

        return self._paged(read, self.ANSWER_PAGE, lambda row: row[0])

    def load_sites(self) -> list[SiteRecord]:
        return list(self.iter_sites())

    def signed_in_sites(self, limit: int) -> tuple[list[SiteRecord], int]:
        """The first ``limit`` sites (by name) with an active account, and their count."""
        first = self._query_sites(
            self._SITE_COLUMNS  # noqa: S608 (constant text, no input)
            + " WHERE site IN (SELECT site FROM signed_in) ORDER BY site LIMIT ?",
            (limit,),
        )
        with self.db.read() as conn:
            count = conn.execute("SELECT count(*) FROM signed_in").fetchone()
        return first, int(count[0])

    def count_attention(self, codes: Iterable[str]) -> int:
        """Sites whose last action left an attention with one of ``codes``."""
        wanted = list(codes)
        marks = ",".join("?" * len(wanted))
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM sites WHERE attention IN ({marks})",  # noqa: S608
                wanted,
            ).fetchone()
        return int(row[0])

    def site_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM sites").fetchone()[0])

    def pending_sites(self) -> dict[str, float]:
        """Sites with an action waiting for the site's answer: site -> when it was asked."""
        with self.db.read() as conn:
            return {
                row[0]: float(row[1])
                for row in conn.execute(
                    "SELECT s.site, e.created_at FROM sites s"
                    " JOIN events e ON e.id = s.pending_event"
                )
            }

    @staticmethod
    def _event(conn: sqlite3.Connection, event_id: str) -> Event | None:
        row = conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return _event_from_row(row) if row is not None else None

    def commit(self, changes: Changes) -> None:
        if not changes:
            return
        with self.db.write() as conn:
            for record in changes.sites:
                conn.execute(
                    "INSERT INTO sites (site, state, pending_event, updated_at, active, attention,"
                    " answer, answer_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (site) DO UPDATE SET"
                    " state = excluded.state, pending_event = excluded.pending_event,"
                    " updated_at = excluded.updated_at, active = excluded.active,"
                    " attention = excluded.attention, answer = excluded.answer,"
                    " answer_until = excluded.answer_until",
                    (
                        record.site,
                        _dumps(record.to_row()),
                        record.pending.id if record.pending else None,
                        record.updated_at,
                        record.active,
                        record.attention.code if record.attention else None,
                        *changes.answers.get(record.site, (None, None)),
                    ),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO signed_in (site) VALUES (?)"
                    if record.active
                    else "DELETE FROM signed_in WHERE site = ?",
                    (record.site,),
                )
            for event, helper_ids in changes.events:
                cursor = conn.execute(
                    "INSERT INTO events (id, type, site, account, previous, persistent,"
                    " created_at, outcome, body, public_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.id,
                        event.type,
                        event.site,
                        event.account,
                        event.previous,
                        int(event.persistent),
                        event.created_at,
                        event.outcome,
                        event_body(event),
                        event.public_key,
                    ),
                )
                conn.executemany(
                    "INSERT INTO deliveries (event_id, helper_id, seq, status, next_attempt_at,"
                    " updated_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                    [
                        (event.id, helper, cursor.lastrowid, event.created_at, event.created_at)
                        for helper in helper_ids
                    ],
                )
            conn.executemany(
                "DELETE FROM sites WHERE site = ?", [(s,) for s in changes.deleted_sites]
            )
            conn.executemany(
                "DELETE FROM signed_in WHERE site = ?", [(s,) for s in changes.deleted_sites]
            )
            conn.executemany(
                "DELETE FROM helper_sites WHERE site = ?", [(s,) for s in changes.deleted_sites]
            )
            conn.executemany(
                "UPDATE events SET outcome = ? WHERE id = ? AND outcome = 'pending'",
                [(outcome, event_id) for event_id, outcome in changes.outcomes.items()],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO helper_sites (helper_id, site) VALUES (?, ?)",
                changes.helper_sites,
            )

    # -- events ------------------------------------------------------------

    def list_events(self, site: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            if site is None:
                rows = conn.execute("SELECT * FROM events ORDER BY seq DESC LIMIT ?", (limit,))
            else:
                rows = conn.execute(
                    "SELECT * FROM events WHERE site = ? ORDER BY seq DESC LIMIT ?", (site, limit)
                )
            events = [_event_from_row(row).to_json() for row in rows.fetchall()]
            by_id = {event["id"]: event for event in events}
            for event in events:
                event["deliveries"] = []
            if by_id:
                marks = ",".join("?" * len(by_id))
                query = (  # only '?' marks are formatted in
                    "SELECT event_id, helper_id, status, attempts, last_error FROM deliveries"  # noqa: S608
                    f" WHERE event_id IN ({marks}) ORDER BY helper_id"
                )
                for row in conn.execute(
                    query,
                    list(by_id),
                ):
                    by_id[row["event_id"]]["deliveries"].append(
                        {
                            "helper_id": row["helper_id"],
                            "status": row["status"],
                            "attempts": row["attempts"],
                            "last_error": row["last_error"],
                        }
                    )
            return events

    def event_site(self, event_id: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT site FROM events WHERE id = ?", (event_id,)).fetchone()
            return row["site"] if row else None

    def delivery_summary(self, event_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [
                dict(row)
                for row in conn.execute(
                    "SELECT helper_id, status, attempts, last_error FROM deliveries"
                    " WHERE event_id = ?",
                    (event_id,),
                )
            ]

    def count_undelivered(self) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM deliveries WHERE status != 'delivered'"
                ).fetchone()[0]
            )

    # -- the dispatcher's queue (sessionmgr.events.dispatcher.DeliveryStore) --

    _HEADS = (
        "SELECT d.event_id, d.helper_id, d.attempts, d.first_attempt_at, d.next_attempt_at,"
        " e.body, h.events_url FROM deliveries d"
        " JOIN events e ON e.id = d.event_id JOIN helpers h ON h.id = d.helper_id"
        " WHERE d.status = 'pending' AND h.status = 'active' AND d.seq = ("
        "   SELECT min(d2.seq) FROM deliveries d2"
        "   WHERE d2.helper_id = d.helper_id AND d2.status = 'pending')"
    )

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        with self.db.read() as conn:
            rows = conn.execute(
                self._HEADS + " AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [
            Delivery(
                event_id=row["event_id"],
                helper_id=row["helper_id"],
                events_url=row["events_url"],
                body=bytes(row["body"]),
                attempts=row["attempts"],
                first_attempt_at=row["first_attempt_at"],
            )
            for row in rows
        ]

    def next_due_at(self) -> float | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT min(next_attempt_at) FROM (" + self._HEADS + ")"  # noqa: S608
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def record_attempt(
        self,
        event_id: str,
        helper_id: str,
        *,
        status: str,
        attempts: int,
        next_attempt_at: float | None,
        last_error: str | None,
        at: float,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?,"
                " last_error = ?, updated_at = ?, first_attempt_at = coalesce(first_attempt_at, ?)"
                " WHERE event_id = ? AND helper_id = ?",
                (status, attempts, next_attempt_at, last_error, at, at, event_id, helper_id),
            )

    def retry_pending_now(self, now: float) -> int:
        """At start-up: what a previous run left undelivered is due at once, not in an hour."""
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending'"
                " AND (next_attempt_at IS NULL OR next_attempt_at > ?)",
                (now, now),
            )
            return cursor.rowcount

    def helper_gone(self, helper_id: str, reason: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE helpers SET status = 'gone', status_reason = ? WHERE id = ?",
                (reason, helper_id),
            )
            conn.execute(
                "UPDATE deliveries SET status = 'failed', last_error = ?, next_attempt_at = NULL"
                " WHERE helper_id = ? AND status = 'pending'",
                (reason, helper_id),
            )

    # -- helpers -----------------------------------------------------------

    def add_helper(
        self,
        *,
        helper_id: str,
        name: str,
        origin: str | None,
        events_url: str,
        code: str,
        now: float,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO helpers (id, name, origin, events_url, code, status, created_at,"
                " last_seen) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
                (helper_id, name, origin, events_url, code, now, now),
            )

    def list_helpers(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [
                dict(row)
                for row in conn.execute(
                    "SELECT id, name, origin, events_url, code, status, status_reason,"
                    " created_at, last_seen FROM helpers ORDER BY created_at"
                )
            ]

    def set_helper_status(self, helper_ids: Iterable[str], status: str, reason: str) -> None:
        ids = list(helper_ids)
        with self.db.write() as conn:
            conn.executemany(
                "UPDATE helpers SET status = ?, status_reason = ? WHERE id = ?",
                [(status, reason, helper) for helper in ids],
            )
            conn.executemany(
                "UPDATE deliveries SET status = 'failed', last_error = ?, next_attempt_at = NULL"
                " WHERE helper_id = ? AND status = 'pending'",
                [(reason, helper) for helper in ids],
            )

    def set_events_url(self, helper_id: str, events_url: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE helpers SET events_url = ? WHERE id = ?", (events_url, helper_id))

    def save_last_seen(self, seen: dict[str, float]) -> None:
        if seen:
            with self.db.write() as conn:
                conn.executemany(
                    "UPDATE helpers SET last_seen = ? WHERE id = ?",
                    [(when, helper) for helper, when in seen.items()],
                )

    def helpers_for_site(self, site: str) -> set[str]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT helper_id FROM helper_sites WHERE site = ?", (site,))
            return {row[0] for row in rows}

    def has_helper_site(self, helper_id: str, site: str) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM helper_sites WHERE helper_id = ? AND site = ?", (helper_id, site)
                ).fetchone()
                is not None
            )

    # -- meta --------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _event_from_row(row: sqlite3.Row) -> Event:
    return Event.from_json(dict(row))
