"""Where sessionmgr keeps its files.

With ``SESSIONMGR_HOME`` set, every file lives under that one directory (tests,
portable installs, several independent instances). Otherwise the per-user
platform directories are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "sessionmgr"


def home_override() -> Path | None:
    value = os.environ.get("SESSIONMGR_HOME")
    return Path(value).expanduser().resolve() if value else None


def _private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if missing; other local users must not read it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def data_dir() -> Path:
    """Database, secrets fallback file, logs."""
    home = home_override()
    return _private_dir(home or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def config_dir() -> Path:
    home = home_override()
    return _private_dir(home or Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def runtime_dir() -> Path:
    """Where ``endpoint.json`` and the single-instance lock live."""
    home = home_override()
    if home:
        return _private_dir(home)
    return _private_dir(Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False)))


def database_path() -> Path:
    return data_dir() / "sessionmgr.sqlite3"


def endpoint_path() -> Path:
    return runtime_dir() / "endpoint.json"


def log_dir() -> Path:
    return _private_dir(data_dir() / "logs")
