"""Native-messaging framing: partial reads, size limits, malformed input, EOF."""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import threading

import pytest

from sessionmgr.helper.framing import (
    MAX_TO_BROWSER,
    FrameReader,
    FrameWriter,
    MessageTooLarge,
    encode_message,
)


def frame(body: bytes) -> bytes:
    return struct.pack("=I", len(body)) + body


class Trickle(io.RawIOBase):
    """Hands out at most one byte per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._data.read(1 if n != 0 else 0)


def test_round_trip_uses_native_byte_order() -> None:
    data = encode_message({"type": "status", "text": "ünïcode"})
    (size,) = struct.unpack("=I", data[:4])
    assert size == len(data) - 4
    assert json.loads(data[4:].decode("utf-8")) == {"type": "status", "text": "ünïcode"}
    assert list(FrameReader(io.BytesIO(data))) == [{"type": "status", "text": "ünïcode"}]


def test_partial_reads_one_byte_at_a_time() -> None:
    stream = Trickle(encode_message({"a": 1}) + encode_message({"b": [1, 2, 3]}))
    assert list(FrameReader(stream)) == [{"a": 1}, {"b": [1, 2, 3]}]


def test_partial_reads_through_a_real_pipe() -> None:
    r, w = os.pipe()
    data = encode_message({"type": "declaration", "site": "example.com"}) * 3

    def write_slowly() -> None:
        with os.fdopen(w, "wb", buffering=0) as out:
            for i in range(len(data)):
                out.write(data[i : i + 1])

    writer = threading.Thread(target=write_slowly)
    writer.start()
    with os.fdopen(r, "rb", buffering=0) as stream:
        messages = list(FrameReader(stream))
    writer.join()
    assert messages == [{"type": "declaration", "site": "example.com"}] * 3


def test_clean_eof_and_empty_input() -> None:
    assert FrameReader(io.BytesIO(b"")).read() is None
    assert list(FrameReader(io.BytesIO(b""))) == []


@pytest.mark.parametrize("tail", [b"\x05", b"\x05\x00\x00\x00{\"a"])
def test_eof_inside_a_frame_ends_cleanly(tail: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "sessionmgr.helper.framing")
    reader = FrameReader(io.BytesIO(encode_message({"ok": True}) + tail))
    assert list(reader) == [{"ok": True}]


def test_oversize_message_from_browser_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "sessionmgr.helper.framing")
    big = json.dumps({"x": "y" * 200}).encode()
    data = frame(big) + encode_message({"after": 1})
    reader = FrameReader(io.BytesIO(data), limit=100)
    assert list(reader) == [{"after": 1}]
    assert reader.skipped == 1
    assert "limit 100" in caplog.text
    assert "yyyy" not in caplog.text  # sizes only, never content


def test_oversize_message_cut_short_by_eof() -> None:
    data = struct.pack("=I", 10_000) + b"z" * 50
    assert list(FrameReader(io.BytesIO(data), limit=100)) == []


def test_huge_announced_length_does_not_allocate() -> None:
    # 4 GiB - 1 announced, nothing behind it: skip in chunks and stop at EOF.
    data = struct.pack("=I", 0xFFFFFFFF)
    assert FrameReader(io.BytesIO(data)).read() is None


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"", b"null"],
    ids=["syntax", "not-utf8", "array", "string", "empty", "null"],
)
def test_malformed_messages_are_ignored_with_a_log_line(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "sessionmgr.helper.framing")
    data = frame(body) + encode_message({"fine": True})
    reader = FrameReader(io.BytesIO(data))
    assert list(reader) == [{"fine": True}]
    assert reader.skipped == 1
    assert caplog.records and caplog.records[0].name == "sessionmgr.helper.framing"


def test_message_to_browser_over_one_mib_is_refused() -> None:
    big = {"x": "a" * MAX_TO_BROWSER}
    with pytest.raises(MessageTooLarge):
        encode_message(big)
    out = io.BytesIO()
    with pytest.raises(MessageTooLarge):
        FrameWriter(out).send(big)
    assert out.getvalue() == b""  # nothing half-written


def test_message_exactly_at_the_limit_is_sent() -> None:
    overhead = len(json.dumps({"x": ""}, separators=(",", ":")))
    msg = {"x": "a" * (MAX_TO_BROWSER - overhead)}
    assert len(encode_message(msg)) == MAX_TO_BROWSER + 4


def test_writer_is_safe_across_threads() -> None:
    out = io.BytesIO()
    writer = FrameWriter(out)

    def send_many(n: int) -> None:
        for i in range(200):
            writer.send({"thread": n, "i": i, "pad": "p" * 1000})

    threads = [threading.Thread(target=send_many, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    messages = list(FrameReader(io.BytesIO(out.getvalue())))
    assert len(messages) == 800
    for n in range(4):
        assert [m["i"] for m in messages if m["thread"] == n] == list(range(200))


def test_writer_reports_a_closed_pipe() -> None:
    r, w = os.pipe()
    os.close(r)
    with os.fdopen(w, "wb", buffering=0) as stream, pytest.raises(OSError):
        FrameWriter(stream).send({"a": 1})
