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
from sessionmgr.store.repository import CACHE_KIB, MIGRATIONS, Changes, Store


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
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            stored = json.loads(conn.execute(
                "SELECT state FROM sites WHERE site = 'a.example'").fetchone()[0])
        assert stored["sessions"] == [["ann", "active", "SID"], ["bob", "passive"]]
    finally:
        store.close()


def test_every_site_is_read_a_page_at_a_time_in_site_order(tmp_path: Path) -> None:
    """A scan reads pages of ``SCAN_PAGE`` sites, each its own query, so no scan holds
    every site. Rows stored out of site order (as years of use leave them) still come
    complete and sorted; SQLite's page cache is the store's small one."""
    sites = [f"s{i:04d}.example" for i in range(700)]
    random.Random(7).shuffle(sites)  # rowids in another order than the site index
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.commit(Changes(sites=[
            SiteRecord(site, (Session(f"ann@{site}", "active" if i % 3 else "passive", SID),),
                       SID, "declared", updated_at=1.0)
            for i, site in enumerate(sites)]))
        seen: list[str] = []
        store.db._conn.set_trace_callback(seen.append)
        loaded = store.load_sites()
        signed_in = list(store.iter_sites(signed_in=True))
        store.db._conn.set_trace_callback(None)
        assert [record.site for record in loaded] == sorted(sites)
        assert loaded[0].sessions == (Session(f"ann@{loaded[0].site}",
                                              loaded[0].sessions[0].status, SID),)
        assert [r.site for r in signed_in] == [r.site for r in loaded if r.active]
        assert 0 < len(signed_in) < len(loaded)
        scans = [sql for sql in seen if sql.startswith("SELECT site, state")]
        pages = len(sites) // store.SCAN_PAGE + 1 + len(signed_in) // store.SCAN_PAGE + 1
        assert len(scans) == pages
        with store.db.read() as conn:
            assert conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
    finally:
        store.close()


def test_signed_in_and_attention_are_counted_from_their_columns(tmp_path: Path) -> None:
    """The tray's summary: the first signed-in sites by name, their count, and the sites
    whose last action needs attention, kept right as records change."""
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.commit(Changes(sites=RECORDS))
        first, count = store.signed_in_sites(5)
        assert [r.site for r in first] == ["a.example"] and count == 1
        assert store.count_attention(["undelivered", "helper_gone"]) == 1
        assert store.count_attention(["no_response"]) == 0
        signed_out = RECORDS[0]._replace(sessions=(Session("ann", "passive", SID),))
        fixed = RECORDS[2]._replace(attention=None)
        store.commit(Changes(sites=[signed_out, fixed]))
        assert store.signed_in_sites(5) == ([], 0)
        assert store.count_attention(["undelivered", "helper_gone"]) == 0
        assert store.site_count() == 3
    finally:
        store.close()


def test_schema_3_sites_get_their_signed_in_attention_and_answer_columns(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    old = Store.__new__(Store)
    old.db = Database(path, MIGRATIONS[:3])
    old_commit_sql = [  # what a schema-3 store wrote: no active or attention column
        (r.site, json.dumps(r.to_row(), separators=(",", ":")), r.updated_at) for r in RECORDS]
    with old.db.write() as conn:
        conn.executemany("INSERT INTO sites (site, state, pending_event, updated_at)"
                         " VALUES (?, ?, NULL, ?)", old_commit_sql)
    old.db.close()
    store = Store(path)
    try:
        assert store.load_sites() == RECORDS
        assert store.signed_in_sites(5)[1] == 1
        assert store.count_attention(["undelivered"]) == 1
        service = SessionService(store)  # the real clock, as the migration's
        with store.db.read() as conn:
            missing = conn.execute("SELECT count(*) FROM sites WHERE answer IS NULL").fetchone()
        assert missing[0] == 0
        assert json.loads(service.list_sites_encoded()) == {"sites": service.list_sites()}
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
