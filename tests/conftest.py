"""Shared fixtures: real stores on disk, real daemons on real loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

# Widgets render offscreen unless a test starts its own X server.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never let a developer's keyring or proxy leak into a test.
os.environ.pop("SESSIONMGR_HOME", None)
os.environ.setdefault("SESSIONMGR_SECRETS", "file")

ROOT = Path(__file__).resolve().parent.parent


def wait_for(
    predicate: Any, timeout: float = 5.0, interval: float = 0.02, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class DaemonProcess:
    """A real ``sessionmgr serve`` process with its own home."""

    home: Path
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    url: str = ""
    token: str = ""
    session: requests.Session = field(default_factory=requests.Session)

    def start(self, port: int = 0, extra_args: tuple[str, ...] = ()) -> DaemonProcess:
        endpoint = self.home / "endpoint.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sessionmgr", "serve", "--port", str(port), *extra_args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The first stdout line is printed once endpoint.json is written.
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "serving on" not in line:
            self.process.wait(timeout=10)
            errors = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"daemon did not start: {line!r} {errors}")
        info = json.loads(endpoint.read_text())
        self.url, self.token = info["url"], info["token"]
        self.session = requests.Session()
        self.session.trust_env = False
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def request(
        self, method: str, path: str, *, token: str | None = "owner", **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token == "owner":
            token = self.token
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        kwargs.setdefault("timeout", 10)
        return self.session.request(
            method, self.url + path, headers=headers, allow_redirects=False, **kwargs
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.session.close()
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def daemon_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(SESSIONMGR_HOME=str(home), SESSIONMGR_SECRETS="file", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    """Make (and always stop) daemon processes; each call gets its own home unless given one."""
    made: list[DaemonProcess] = []

    def make(home: Path | None = None, *, start: bool = True, port: int = 0) -> DaemonProcess:
        home = home or tmp_path / f"home{len(made)}"
        home.mkdir(parents=True, exist_ok=True)
        daemon = DaemonProcess(home, daemon_env(home))
        made.append(daemon)
        return daemon.start(port) if start else daemon

    yield make
    for daemon in made:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.kill()
        elif daemon.process is not None:
            for stream in (daemon.process.stdout, daemon.process.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
        daemon.session.close()


@pytest.fixture
def daemon(daemon_factory: Any) -> DaemonProcess:
    return daemon_factory()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated SESSIONMGR_HOME for in-process tests."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("SESSIONMGR_HOME", str(path))
    monkeypatch.setenv("SESSIONMGR_SECRETS", "file")
    return path
