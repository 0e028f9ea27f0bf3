"""A private session bus with an unlocked gnome-keyring: a real Secret Service per test.

Use the fixtures by importing them into a test module::

    from tests.keyring_env import secret_service_env_fixture, secret_service_fixture

(they register as ``secret_service_env`` and ``secret_service``).

The bus uses its own config without service directories, so nothing can be
D-Bus-activated behind the test's back (a stray, locked gnome-keyring would
outlive it). Both daemons run in the foreground as our children and are
reaped at teardown. Readiness is the bus announcing that
``org.freedesktop.secrets`` has an owner, not a sleep.

If gnome-keyring cannot run here the fixture fails: a test that needs a real
Secret Service must never pass without one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import keyring
import pytest
from jeepney import MatchRule, message_bus
from jeepney.io.blocking import Proxy, open_dbus_connection
from keyring.backend import KeyringBackend
from keyring.backends import SecretService

SECRETS_NAME = "org.freedesktop.secrets"
START_TIMEOUT = 15.0
PASSWORD = "sessionmgr-test-keyring"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class SecretServiceEnv:
    address: str
    bus: subprocess.Popen[str]
    keyring_daemon: subprocess.Popen[str]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _read(f: IO[str] | None) -> str:
    if f is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        return f.read()
    return ""


def _wait_for_name(address: str, name: str, proc: subprocess.Popen[str]) -> None:
    """Block until ``name`` has an owner on the bus, or fail with the daemon's stderr."""
    conn = open_dbus_connection(bus=address)
    try:
        bus = Proxy(message_bus, conn)
        rule = MatchRule(
            type="signal",
            sender=message_bus.bus_name,
            interface=message_bus.interface,
            member="NameOwnerChanged",
            path=message_bus.object_path,
        )
        rule.add_arg_condition(0, name)
        with conn.filter(rule) as queue:
            bus.AddMatch(rule)
            deadline = time.monotonic() + START_TIMEOUT
            # Subscribed first, then asked: an owner that appears in between is not missed.
            while not bus.NameHasOwner(name)[0]:
                if proc.poll() is not None:
                    pytest.fail(
                        f"gnome-keyring-daemon exited ({proc.returncode}) before owning {name}:"
                        f" {_read(proc.stderr)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"gnome-keyring-daemon did not own {name} in {START_TIMEOUT} s")
                # Wakes on the signal; the short cap only re-checks that the daemon lives.
                with contextlib.suppress(TimeoutError):
                    conn.recv_until_filtered(queue, timeout=min(remaining, 1.0))
    finally:
        conn.close()


@contextlib.contextmanager
def running_secret_service(base: Path) -> Iterator[SecretServiceEnv]:
    """Start a private bus and an unlocked gnome-keyring under ``base``; stop both after."""
    base.mkdir(parents=True, exist_ok=True)
    dirs = {k: base / k for k in ("bus", "home", "runtime", "data", "config", "cache")}
    for d in dirs.values():
        d.mkdir(mode=0o700, exist_ok=True)
    config = base / "bus.conf"
    config.write_text(_BUS_CONFIG.format(dir=dirs["bus"]))
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    except FileNotFoundError:
        pytest.fail("dbus-daemon is not installed (Debian package dbus-daemon)")
    try:
        address = bus.stdout.readline().strip() if bus.stdout else ""
        if not address:
            pytest.fail(f"dbus-daemon did not start: {_read(bus.stderr)}")
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.update(
            DBUS_SESSION_BUS_ADDRESS=address,
            HOME=str(dirs["home"]),
            XDG_RUNTIME_DIR=str(dirs["runtime"]),
            XDG_DATA_HOME=str(dirs["data"]),
            XDG_CONFIG_HOME=str(dirs["config"]),
            XDG_CACHE_HOME=str(dirs["cache"]),
        )
        try:
            daemon = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, env=env,
            )
        except FileNotFoundError:
            pytest.fail("gnome-keyring-daemon is not installed (Debian package gnome-keyring)")
        try:
            assert daemon.stdin is not None
            # --unlock reads the login keyring's password from stdin; an empty one fails.
            daemon.stdin.write(PASSWORD)
            daemon.stdin.close()
            _wait_for_name(address, SECRETS_NAME, daemon)
            yield SecretServiceEnv(address, bus, daemon)
        finally:
            _stop(daemon)
    finally:
        _stop(bus)


@contextlib.contextmanager
def keyring_backend(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Make ``backend`` keyring's chosen backend, restoring the previous one after."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(name="secret_service_env")
def secret_service_env_fixture(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SecretServiceEnv]:
    """A running Secret Service; ``DBUS_SESSION_BUS_ADDRESS`` points at it for the test."""
    # A short base path: unix socket paths are limited to ~107 bytes.
    with running_secret_service(tmp_path_factory.mktemp("ss")) as env:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env.address)
        yield env


@pytest.fixture(name="secret_service")
def secret_service_fixture(secret_service_env: SecretServiceEnv) -> Iterator[KeyringBackend]:
    """keyring's SecretService backend on a private gnome-keyring, set as keyring's choice."""
    with keyring_backend(SecretService.Keyring()) as backend:
        yield backend
