"""Build a store of N sites with 5 sessions each by writing through the real service."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def declaration(i: int, n_sessions: int = 5) -> dict:
    return {
        "sessions": [
            {"email": f"user{j}.{i}@site{i:05d}.example", "status": "active" if j == 0 else
             "passive", **({"bound_to": {"type": "cookie", "cookie_name": "SID"}} if j == 0
                           else {})}
            for j in range(n_sessions)
        ],
        "cookies": ["SID"],
        "focused": i == 0,
    }


def populate(home: Path, sites: int) -> None:
    os.environ["SESSIONMGR_HOME"] = str(home)
    from sessionmgr import paths
    from sessionmgr.service import SessionService
    from sessionmgr.store.repository import Store

    store = Store(paths.database_path())
    try:
        service = SessionService(store)
        for i in range(sites):
            service.declare(f"site{i:05d}.example", declaration(i))
    finally:
        store.close()


if __name__ == "__main__":
    populate(Path(sys.argv[1]), int(sys.argv[2]))
