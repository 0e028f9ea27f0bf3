"""One daemon per home: an OS file lock that dies with the process.

A lock file (not a pid check) so a daemon killed with ``kill -9`` never blocks
the next start, and a second start fails at once with a clear message.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

from sessionmgr.errors import AlreadyRunning


class InstanceLock:
    def __init__(self, path: Path):
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self, endpoint_file: Path) -> None:
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
        try:
            _lock(handle)
        except OSError:
            handle.close()
            raise AlreadyRunning(_running_message(self.path.parent, endpoint_file)) from None
        os.chmod(self.path, 0o600)
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            _unlock(self._handle)
            self._handle.close()
            self._handle = None


def _running_message(home: Path, endpoint_file: Path) -> str:
    where = ""
    try:
        info = json.loads(endpoint_file.read_text(encoding="utf-8"))
        where = f" (pid {info.get('pid')}, {info.get('url')})"
    except (OSError, ValueError):
        pass
    return f"sessionmgr is already running for {home}{where}; stop it first or set SESSIONMGR_HOME"


if sys.platform == "win32":  # pragma: no cover - exercised by the Windows CI job
    import msvcrt

    def _lock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
