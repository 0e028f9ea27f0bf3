"""Native-messaging framing: a 4-byte native-endian length, then UTF-8 JSON.

The browser is the only peer, but a bug or a hostile page upstream must never
crash the host or desynchronise the stream: over-size frames are skipped,
malformed JSON is logged and dropped, EOF (even mid-frame) ends cleanly.
stdout carries frames only; every diagnostic goes to the log.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from collections.abc import Iterator
from typing import IO, Any, Final

log = logging.getLogger("sessionmgr.helper.framing")

HEADER: Final = struct.Struct("=I")  # native byte order, standard 4-byte size
# Chromium caps messages to the browser at 1 MiB and those from it at 64 MiB.
MAX_TO_BROWSER: Final = 1024 * 1024
MAX_FROM_BROWSER: Final = 64 * 1024 * 1024
_SKIP_CHUNK = 64 * 1024


class MessageTooLarge(ValueError):
    """A message would exceed the size the browser accepts."""


def encode_message(message: Any, *, limit: int = MAX_TO_BROWSER) -> bytes:
    """One frame for ``message``; raises MessageTooLarge over ``limit`` bytes of JSON."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > limit:
        raise MessageTooLarge(f"message of {len(body)} bytes exceeds the {limit}-byte limit")
    return HEADER.pack(len(body)) + body


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    """Exactly ``n`` bytes, looping over short reads; None at EOF before ``n`` bytes."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _skip(stream: IO[bytes], n: int) -> bool:
    """Discard ``n`` bytes without holding them in memory; False at EOF."""
    while n > 0:
        chunk = stream.read(min(n, _SKIP_CHUNK))
        if not chunk:
            return False
        n -= len(chunk)
    return True


class FrameReader:
    """Iterates the JSON objects arriving on ``stream`` until EOF.

    Frames that are too large, not UTF-8, not JSON or not a JSON object are
    logged (their size and the reason, never their content) and skipped.
    """

    def __init__(self, stream: IO[bytes], *, limit: int = MAX_FROM_BROWSER) -> None:
        self._stream = stream
        self._limit = limit
        self.skipped = 0

    def read(self) -> dict[str, Any] | None:
        """The next valid message, or None at EOF."""
        while True:
            header = _read_exact(self._stream, HEADER.size)
            if header is None:
                return None
            (size,) = HEADER.unpack(header)
            if size > self._limit:
                log.warning("skipping a %d-byte message (limit %d)", size, self._limit)
                self.skipped += 1
                if not _skip(self._stream, size):
                    log.info("input ended inside an over-size message")
                    return None
                continue
            body = _read_exact(self._stream, size)
            if body is None:
                log.info("input ended inside a message (%d bytes announced)", size)
                return None
            try:
                message = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                log.warning("ignoring a malformed %d-byte message: %s", size, type(e).__name__)
                self.skipped += 1
                continue
            if not isinstance(message, dict):
                log.warning("ignoring a message that is a JSON %s, not an object",
                            type(message).__name__)
                self.skipped += 1
                continue
            return message

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (message := self.read()) is not None:
            yield message


class FrameWriter:
    """Writes whole frames to ``stream``; safe to share between threads."""

    def __init__(self, stream: IO[bytes], *, limit: int = MAX_TO_BROWSER) -> None:
        self._stream = stream
        self._limit = limit
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        """Write one message and flush; raises MessageTooLarge or OSError (browser gone)."""
        frame = encode_message(message, limit=self._limit)
        with self._lock:
            self._stream.write(frame)
            self._stream.flush()
