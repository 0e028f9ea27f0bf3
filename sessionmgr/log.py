"""Logging: named loggers per subsystem, a rotating file, never a secret.

Loggers: sessionmgr.api, .service, .store, .security, .events, .gui, .helper.
Tokens and secrets are never passed to a log call; the redaction filter is a
second line of defence for anything that looks like one.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path

_SECRETISH = re.compile(r"(whsec_[A-Za-z0-9+/=]{8,}|Bearer\s+\S+|\"token\"\s*:\s*\"[^\"]+\")")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRETISH.search(message):
            record.msg = _SECRETISH.sub("[redacted]", message)
            record.args = None
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files are created 0600: they name sites and accounts."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def setup(level: str = "INFO", *, log_dir: Path | None = None, stderr: bool = True) -> None:
    root = logging.getLogger("sessionmgr")
    root.setLevel(level.upper())
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact = RedactSecrets()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        console.addFilter(redact)
        root.addHandler(console)
    if log_dir is not None:
        file_handler = PrivateRotatingFileHandler(
            log_dir / "sessionmgr.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(formatter)
        file_handler.addFilter(redact)
        root.addHandler(file_handler)
    root.propagate = False
