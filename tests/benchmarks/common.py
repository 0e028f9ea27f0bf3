"""Shared pieces of the benchmark harness: processes, homes, /proc readings, statistics.

Benchmarks are not tests: nothing here asserts; it measures and reports.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- statistics --------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> float:
    """Relative spread (max-min)/median of repeated runs: how noisy a figure was."""
    if len(values) < 2:
        return 0.0
    mid = median(values)
    return (max(values) - min(values)) / mid if mid else 0.0


# -- environment -----------------------------------------------------------------------


def base_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop("SESSIONMGR_HOME", None)
    env.update(SESSIONMGR_SECRETS="file", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    if home is not None:
        env["SESSIONMGR_HOME"] = str(home)
    env.update(extra)
    return env


@contextlib.contextmanager
def temp_dir(prefix: str = "sessionmgr-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_home(source: Path, target: Path) -> Path:
    """A fresh copy of a prepared home (runs must not see each other's leftovers)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("endpoint.json", "*.lock"))
    return target


# -- /proc -----------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wakeups(pid: int) -> int:
    """Voluntary context switches summed over every thread: roughly, times it woke up."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


# -- processes -------------------------------------------------------------------------


@dataclass
class Proc:
    """A started child process that is always stopped (see :func:`stop`)."""

    popen: subprocess.Popen[str]
    started: float  # perf_counter just before Popen
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 10.0) -> None:
        p = self.popen
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def spawn(args: Sequence[str], env: dict[str, str], *, stderr_to: Path | None = None) -> Proc:
    err: Any = subprocess.DEVNULL
    if stderr_to is not None:
        err = stderr_to.open("a")
    started = time.perf_counter()
    popen = subprocess.Popen(list(args), env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    if stderr_to is not None:
        err.close()
    return Proc(popen, started)


def read_line(proc: Proc, marker: str, timeout: float = 60.0) -> str:
    """The first stdout line containing ``marker`` (blocking read, bounded by a timer)."""
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + timeout
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.popen.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                break
            line = proc.popen.stdout.readline()
            if not line:
                break
            if marker in line:
                return line.strip()
    proc.stop()
    raise RuntimeError(f"{proc.popen.args[:3]} did not print {marker!r} within {timeout} s")


def start_daemon(home: Path, log: Path | None = None) -> tuple[Proc, dict[str, Any]]:
    """``sessionmgr serve --port 0`` on ``home``; returns it and its endpoint.json."""
    home.mkdir(parents=True, exist_ok=True)
    proc = spawn(
        [PYTHON, "-m", "sessionmgr", "serve", "--port", "0", "--log-level", "WARNING"],
        base_env(home),
        stderr_to=log,
    )
    read_line(proc, "serving on")
    info = json.loads((home / "endpoint.json").read_text())
    proc.info = info
    return proc, info


class Client:
    """A keep-alive HTTP/1.1 client (http.client), Nagle off: the measuring side."""

    def __init__(self, url: str, token: str | None = None):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port, self.token = host, int(port), token
        self.conn = http.client.HTTPConnection(host, self.port, timeout=30)
        self.conn.connect()
        import socket

        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None
             ) -> tuple[int, Any]:
        headers = {}
        token = token or self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)

    def close(self) -> None:
        self.conn.close()


def pair_helper(url: str, owner: str, events_url: str) -> dict[str, Any]:
    """Pair and approve a helper through the API; returns its token and webhook secret."""
    c = Client(url)
    try:
        _, ticket = c.call("POST", "/v1/pairings", {"name": "bench", "events_url": events_url})
        status, _ = c.call("POST", f"/v1/pairings/{ticket['id']}/approve", {}, token=owner)
        assert status == 200, status
        _, answer = c.call("GET", f"/v1/pairings/{ticket['id']}", token=ticket["poll_secret"])
        return dict(answer)
    finally:
        c.close()


def wait_health(url: str, timeout: float = 10.0) -> float:
    """perf_counter when GET /v1/health first answered 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = Client(url)
            try:
                status, _ = c.call("GET", "/v1/health")
            finally:
                c.close()
            if status == 200:
                return time.perf_counter()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer /v1/health")
        time.sleep(0.002)
