"""The SQLite store on real files: migrations, durability, the outbox transaction."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sessionmgr.core.model import Attention, Binding, Event, Persistent, Session, SiteRecord
from sessionmgr.service import SessionService
from sessionmgr.store.db import Database, StoreEnvironmentError, StoreError
from sessionmgr.store.repository import MIGRATIONS, SCAN_CACHE_KIB, Changes, Store


def test_migrates_an_empty_file_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"sites", "events", "deliveries", "helpers", "helper_sites", "meta"} <= tables
    finally:
        conn.close()
    assert path.stat().st_mode & 0o777 == 0o600


SID = Binding("SID")
RECORDS = [
    SiteRecord("a.example", (Session("ann", "active", SID), Session("bob", "passive")), SID,
               "declared", updated_at=1.5),
    SiteRecord("b.example", None, None, "none", updated_at=2.0),  # unsupported
    SiteRecord("c.example", (), None, "binding", "login-status", updated_at=3.0,
               persistent=Persistent("ann", 99.5), persist_intent=Persistent("bob", 12.0),
               attention=Attention("undelivered", "not delivered", "evt-1")),
]


def test_every_site_field_survives_the_stored_form(tmp_path: Path) -> None:
    login = Event("evt-2", "login", "d.example", "ann", None, True, 5.0, public_key="pk")
    waiting = SiteRecord("d.example", (Session("ann", "passive"),), pending=login,
                         updated_at=5.0)
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.commit(Changes(sites=[*RECORDS, waiting], events=[(login, [])]))
    finally:
        store.close()
    store = Store(tmp_path / "db.sqlite3")
    try:
        assert store.load_sites() == [*RECORDS, waiting]
    finally:
        store.close()


def test_schema_2_site_states_are_migrated_to_the_compact_form(tmp_path: Path) -> None:
    """A database written before schema 3 (sessions, bindings and choices as objects)
    loads as the same records."""
    path = tmp_path / "db.sqlite3"
    old = Database(path, MIGRATIONS[:2])
    v2_states = {
        "a.example": {"sessions": [
            {"email": "ann", "status": "active",
             "bound_to": {"type": "cookie", "cookie_name": "SID"}},
            {"email": "bob", "status": "passive", "bound_to": None}],
            "binding": {"type": "cookie", "cookie_name": "SID"}, "source": "declared",
            "api": "sessions", "persistent": None, "persist_intent": None, "attention": None},
        "b.example": {"sessions": None, "binding": None, "source": "none", "api": "sessions",
                      "persistent": None, "persist_intent": None, "attention": None},
        "c.example": {"sessions": [], "binding": None, "source": "binding",
                      "api": "login-status", "persistent": {"id": "ann", "expires": 99.5},
                      "persist_intent": {"id": "bob", "expires": 12.0},
                      "attention": {"code": "undelivered", "message": "not delivered",
                                    "event_id": "evt-1"}},
    }
    updated = {"a.example": 1.5, "b.example": 2.0, "c.example": 3.0}
    with old.write() as conn:
        for site, state in v2_states.items():
            conn.execute("INSERT INTO sites (site, state, pending_event, updated_at)"
                         " VALUES (?, ?, NULL, ?)", (site, json.dumps(state), updated[site]))
    old.close()
    store = Store(path)
    try:
        assert store.load_sites() == RECORDS
        with store.db.read() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
            stored = json.loads(conn.execute(
                "SELECT state FROM sites WHERE site = 'a.example'").fetchone()[0])
        assert stored["sessions"] == [["ann", "active", "SID"], ["bob", "passive"]]
    finally:
        store.close()


def test_loading_every_site_scans_with_a_small_page_cache_and_restores_it(
    tmp_path: Path,
) -> None:
    """Start-up reads each site once: SQLite's page cache stays small meanwhile (its
    pages would stay malloc'd for nothing), then is what it was. Rows stored out of
    site order (as years of use leave them) still load complete and sorted."""
    sites = [f"s{i:04d}.example" for i in range(2000)]
    random.Random(7).shuffle(sites)  # rowids in another order than the site index
    store = Store(tmp_path / "db.sqlite3")
    try:
        for chunk in range(0, len(sites), 500):
            store.commit(Changes(sites=[
                SiteRecord(site, (Session(f"ann@{site}", "active", SID),), SID, "declared",
                           updated_at=1.0)
                for site in sites[chunk:chunk + 500]]))
        with store.db.read() as conn:
            conn.execute("PRAGMA cache_size = -500")
        seen: list[str] = []
        store.db._conn.set_trace_callback(seen.append)
        loaded = store.load_sites()
        store.db._conn.set_trace_callback(None)
        assert [record.site for record in loaded] == sorted(sites)
        assert loaded[0].sessions == (Session(f"ann@{loaded[0].site}", "active", SID),)
        scan = next(i for i, sql in enumerate(seen) if sql.startswith("SELECT site, state"))
        assert seen[scan - 1] == f"PRAGMA cache_size = {-SCAN_CACHE_KIB}"
        with store.db.read() as conn:
            assert conn.execute("PRAGMA cache_size").fetchone()[0] == -500
    finally:
        store.close()


def test_refuses_a_database_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer sessionmgr"):
        Store(path)


def test_a_file_that_is_not_a_database_is_an_environment_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreEnvironmentError, match=r"db\.sqlite3"):
        Store(path)


def test_restart_keeps_state_and_events(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = Store(path)
    service = SessionService(store)
    service.declare(
        "example.com", {"sessions": [{"email": "a"}, {"email": "b", "status": "passive"}]}
    )
    event = service.login("example.com", "b", persistent=True)
    before = service.list_sites()
    store.close()

    store = Store(path)
    service = SessionService(store)
    try:
        assert service.list_sites() == before
        assert service.get_site("example.com")["pending"]["id"] == event["id"]
        assert [e["id"] for e in service.list_events()] == [event["id"]]
    finally:
        store.close()


def test_a_redeclaration_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    try:
        service = SessionService(store)
        body = {
            "sessions": [{"email": "a", "bound_to": {"type": "cookie", "cookie_name": "SID"}}],
            "cookies": ["SID"],
        }
        service.declare("example.com", body)
        writes = store.db._conn.total_changes
        for _ in range(20):
            service.declare("example.com", body)
        assert store.db._conn.total_changes == writes
        service.declare("example.com", {"sessions": []})
        assert store.db._conn.total_changes > writes
    finally:
        store.close()


def test_state_and_event_commit_together_or_not_at_all(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    try:
        service = SessionService(store)
        service.declare("example.com", {"sessions": [{"email": "a"}]})
        first = service.logout("example.com")
        record = service.record("example.com")
        assert record is not None
        duplicate = Event.from_json({**first, "created_at": 2.0})
        changed = record.__class__(site="example.com", sessions=(), updated_at=99.0)
        with pytest.raises(StoreError):
            store.commit(Changes(sites=[changed], events=[(duplicate, [])]))
        reloaded = {r.site: r for r in store.load_sites()}["example.com"]
        assert reloaded.sessions == record.sessions and reloaded.updated_at == record.updated_at
        assert len(store.list_events()) == 1
    finally:
        store.close()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sessionmgr.service import SessionService
    from sessionmgr.store.repository import Store

    service = SessionService(Store(Path(sys.argv[1])))
    i = 0
    while True:
        site = f"site{i}.example"
        service.declare(site, {"sessions": [{"email": f"user{i}"}]})
        service.logout(site)
        print(site, flush=True)  # printed only after both commits returned
        i += 1
    """
)


def test_kill_9_during_writes_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    committed = [writer.stdout.readline().strip() for _ in range(200)]
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()

    store = Store(path)
    try:
        assert store.db.integrity_ok()
        sites = {r.site: r for r in store.load_sites()}
        events = {e["site"] for e in store.list_events(limit=100_000)}
        for site in committed:
            assert site in sites, f"{site} was committed but is gone"
            assert sites[site].pending is not None and sites[site].pending.type == "logout"
            assert site in events
    finally:
        store.close()
