"""The SQLite wrapper: one connection, WAL, migrations by ``user_version``.

All SQL of the project lives in this package. Writes run in ``BEGIN
IMMEDIATE`` transactions under one lock, so an event and the state change that
caused it land together or not at all (the outbox). Errors are split into what
the environment did (disk full, file locked, not a database: tell the user)
and what is a bug.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

log = logging.getLogger("sessionmgr.store")


class StoreError(Exception):
    """The database could not be used; the message says why and what to do."""


class StoreEnvironmentError(StoreError):
    """Disk full, read-only, locked, corrupt: not a bug in sessionmgr."""


_ENVIRONMENT_CODES = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_NOTADB,
    sqlite3.SQLITE_PERM,
}


def _translate(exc: sqlite3.Error, path: Path) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _ENVIRONMENT_CODES:
        return StoreEnvironmentError(f"cannot use the database {path}: {exc}")
    return StoreError(f"database error in {path}: {exc}")


Migration = Callable[[sqlite3.Connection], None]


class Database:
    """A thread-safe SQLite connection with migrations applied on open."""

    def __init__(self, path: Path, migrations: Sequence[Migration]):
        self.path = path
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
            self._conn = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=5.0
            )
        except OSError as exc:
            raise StoreEnvironmentError(f"cannot open the database {path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise _translate(exc, path) from exc
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(migrations)
        except sqlite3.Error as exc:
            self._conn.close()
            raise _translate(exc, path) from exc

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise StoreError(
                f"{self.path} was written by a newer sessionmgr (schema {version}); "
                f"this one knows up to {len(migrations)}"
            )
        for number, migration in enumerate(migrations[version:], start=version + 1):
            with self.write() as conn:
                migration(conn)
                conn.execute(f"PRAGMA user_version={number}")
            log.info("database %s migrated to schema %d", self.path, number)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; commits on success, rolls back on error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            try:
                yield self._conn
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise _translate(exc, self.path) from exc
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise _translate(exc, self.path) from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def integrity_ok(self) -> bool:
        with self.read() as conn:
            return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
