"""User settings: a small versioned JSON file in the config directory.

Unknown keys are kept out, bad values fall back to their defaults with a log
line, so a hand-edited file can never stop the app from starting.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from sessionmgr import paths

log = logging.getLogger("sessionmgr.settings")

SETTINGS_VERSION = 1


class Settings(NamedTuple):
    """Immutable: a change is ``settings._replace(...)``, then :func:`save`."""

    port: int = 0  # 0: any free loopback port, announced in endpoint.json
    notifications: bool = True
    persist_days: int = 30  # how long "stay signed in" lasts
    start_at_login: bool = False
    pending_timeout: float = 10.0

    def validate(self) -> list[str]:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append("port")
        if not 1 <= self.persist_days <= 365:
            problems.append("persist_days")
        if not 1 <= self.pending_timeout <= 300:
            problems.append("pending_timeout")
        return problems


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load(path: Path | None = None) -> Settings:
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return Settings()
    defaults = Settings()
    if not isinstance(raw, dict):
        log.warning("ignoring settings file %s: not a JSON object", path)
        return defaults
    values = {}
    for name in Settings._fields:
        if name in raw:
            value = raw[name]
            expected = type(getattr(defaults, name))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is expected:
                values[name] = value
            else:
                log.warning("settings %s: %s has the wrong type; using the default", path, name)
    result = Settings(**values)
    problems = result.validate()
    for name in problems:
        log.warning("settings %s: %s is out of range; using the default", path, name)
    return result._replace(**{name: getattr(defaults, name) for name in problems})


def save(settings: Settings, path: Path | None = None) -> None:
    """Atomic replace, 0600."""
    path = path or settings_path()
    problems = settings.validate()
    if problems:
        raise ValueError(f"invalid settings: {', '.join(problems)}")
    data = {"version": SETTINGS_VERSION, **settings._asdict()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
