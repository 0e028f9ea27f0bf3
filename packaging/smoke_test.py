"""Smoke test of a built sessionmgr: the frozen folder, or the installed .deb.

    python packaging/smoke_test.py                      # dist/sessionmgr (PyInstaller)
    python packaging/smoke_test.py --bin /usr/bin       # the installed .deb
    python packaging/smoke_test.py --secret-service     # also: keyring backends bundled

Each run gets a temporary SESSIONMGR_HOME and checks:

1. ``sessionmgr-cli --version`` and ``sessionmgr --version`` print the version;
2. ``sessionmgr-cli serve --port 0`` (the Qt-free command line; ``sessionmgr serve``
   where there is no separate one, e.g. the .deb's /usr/bin) writes endpoint.json,
   answers ``/v1/health`` and ``/v1/openapi.json`` (package data), and on SIGTERM
   exits 0 within 5 s and removes endpoint.json; on Linux and macOS it must not
   have loaded Qt (its mapped files are read while it runs);
3. ``sessionmgr-helper`` (started as a browser starts it) answers with a
   ``status`` frame that sees that daemon, and exits when its stdin closes;
4. the tray app (``QT_QPA_PLATFORM=offscreen sessionmgr``) does the same as 2,
   and on Linux and macOS must have loaded Qt (so the check of 2 can tell);
5. where ``sessionmgr-cli`` exists (not on Windows, where it cannot exec), it
   started with no command hands over to the tray app: the same as 4;
6. with ``--secret-service`` (Linux), a private D-Bus session with an unlocked
   gnome-keyring runs around all of it and the daemon must say it keeps its
   secrets in the keyring: that only happens when the frozen app carries the
   keyring backends *and* their entry-point metadata.

Every stderr line of every process must be an INFO log line of sessionmgr or
match ALLOWED_STDERR below; anything else (a traceback, a Qt plugin that failed
to load, a warning nobody expected) fails the test. Standard library only, so
any Python can run it against any build.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = sys.platform == "win32"
EXE = ".exe" if WINDOWS else ""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0  # DESIGN.md section 3: a clean exit within 5 s
# The tray app arms its SIGTERM handler before it starts the daemon and posts the
# quit, so it can be stopped the moment /v1/health answers: no settling time.
TRAY_SETTLE = 0.0
CHROMIUM_ORIGIN = "chrome-extension://kcjlcmohpnapdokpbjgjpjnhdgajbkpn/"

# The normal chatter: sessionmgr's own INFO log lines (format of sessionmgr/log.py).
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) sessionmgr[.\w]*: ")
HELPER_LOG_LINE = re.compile(r"^sessionmgr-helper: (?P<level>[A-Z]+) ")

# Known-harmless stderr lines, each with the reason it is harmless.
ALLOWED_STDERR: list[tuple[str, re.Pattern[str]]] = [
    # Qt's offscreen platform plugin (used only here, headless) does not implement
    # these window operations and says so; a real desktop never prints them.
    ("offscreen", re.compile(r"^This plugin does not support (propagateSizeHints|raise|"
                             r"grabbing the keyboard|grabbing the mouse|"
                             r"setting window opacity)\(?\)?$")),
    # Offscreen has no system tray (DESIGN.md section 6): the app falls back to its
    # sessions window, as designed for desktops without a tray, and says so once.
    ("offscreen", re.compile(r"^no system tray on this desktop: opening the sessions window$")),
]
# Without a Secret Service (a build machine, CI) the daemon keeps secrets in a
# 0600 file and announces it once: the designed fallback. Not allowed with
# --secret-service, where it would mean the keyring backends were lost.
NO_KEYRING = re.compile(
    r"(no usable OS keyring \(keyring found no backend\); secrets are kept in .*secrets\.json"
    r" \(mode 0600\))$"
)


class SmokeFailure(Exception):
    pass


# Shared objects that only a process with Qt loaded maps.
QT_LIBRARY = re.compile(r"/(libQt6Core|libshiboken6|libpyside6)[^/]*$|/PySide6/Qt[A-Za-z]+\.")


@dataclass
class Build:
    app: Path  # the tray app (Qt); also runs every command
    cli: Path  # the command line without Qt (the app where there is no separate one)
    helper: Path

    @classmethod
    def from_dir(cls, directory: Path) -> Build:
        cli = directory / f"sessionmgr-cli{EXE}"
        app = directory / f"sessionmgr{EXE}"
        return cls(app=app, cli=cli if cli.exists() else app,
                   helper=directory / f"sessionmgr-helper{EXE}")


@dataclass
class Checker:
    secret_service: bool
    offscreen: bool = False
    problems: list[str] = field(default_factory=list)

    def stderr(self, what: str, text: str) -> None:
        for line in text.splitlines():
            if not line.strip():
                continue
            m = LOG_LINE.match(line) or HELPER_LOG_LINE.match(line)
            if m and m["level"] in ("DEBUG", "INFO"):
                continue
            if not self.secret_service and NO_KEYRING.search(line):
                continue
            if any(p.match(line) for kind, p in ALLOWED_STDERR
                   if kind != "offscreen" or self.offscreen):
                continue
            self.problems.append(f"{what}: unexpected stderr line: {line!r}")


def _opener() -> urllib.request.OpenerDirector:
    # No proxy for loopback, whatever HTTP_PROXY says (DESIGN.md section 6).
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, timeout: float = 5.0) -> tuple[int, object]:
    with _opener().open(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def wait_for_health(home: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    """Poll for endpoint.json, then for /v1/health; return the daemon's URL."""
    endpoint = home / "endpoint.json"
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SmokeFailure(f"exited early with status {proc.returncode}")
        if url is None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                url = json.loads(endpoint.read_text(encoding="utf-8"))["url"]
        if url is not None:
            with contextlib.suppress(OSError):
                status, body = get_json(url + "/v1/health", timeout=2)
                if status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                    return url
        time.sleep(0.005)
    raise SmokeFailure(f"no /v1/health answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM (on Windows: terminate, there is no SIGTERM); return seconds to exit."""
    started = time.monotonic()
    if proc.poll() is None:
        if WINDOWS:
            proc.terminate()
        else:
            proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - started


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["SESSIONMGR_HOME"] = str(home)
    # Let the bundled Qt pick its own plugins (not another install's), and the app
    # pick its secrets backend by itself (the test suite pins SESSIONMGR_SECRETS=file).
    for name in ("QT_PLUGIN_PATH", "QT_QPA_PLATFORM_PLUGIN_PATH", "PYTHONPATH", "PYTHONHOME",
                 "SESSIONMGR_SECRETS", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], stderr_path: Path) -> Iterator[
        subprocess.Popen[bytes]]:
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def qt_loaded(pid: int) -> bool | None:
    """Whether the process maps Qt's libraries: /proc/PID/maps (Linux), lsof (macOS);
    None where neither can tell (Windows)."""
    try:
        files = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        if WINDOWS or shutil.which("lsof") is None:
            return None
        listed = subprocess.run(["lsof", "-n", "-P", "-p", str(pid), "-F", "n"],
                                capture_output=True, text=True, timeout=30)
        files = [line[1:] for line in listed.stdout.splitlines() if line.startswith("n")]
        if not files:
            return None
    return any(QT_LIBRARY.search(line) for line in files)


def check_daemon(name: str, argv: list[str], env_extra: dict[str, str], checker: Checker,
                 build: Build | None, work: Path, settle: float = 0.0,
                 qt: bool | None = None) -> float:
    """Start, health, (helper,) stop; return seconds from spawn to a healthy answer.

    ``qt``: whether the process must (True) or must not (False) have loaded Qt."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    err_path = work / f"{name}.stderr"
    env = _env(home, env_extra)
    started = time.monotonic()
    with running(argv, env, err_path) as proc:
        try:
            url = wait_for_health(home, proc, START_TIMEOUT)
        except SmokeFailure as e:
            err = err_path.read_text(errors="replace")
            raise SmokeFailure(f"{name}: {e}; stderr:\n{err}") from None
        ready = time.monotonic() - started
        loaded = qt_loaded(proc.pid)
        if qt is not None and loaded is not None and loaded != qt:
            checker.problems.append(f"{name}: Qt is {'not ' if not loaded else ''}loaded,"
                                    f" expected {'it' if qt else 'a Qt-free process'}")
        status, spec = get_json(url + "/v1/openapi.json")
        if status != 200 or not isinstance(spec, dict) or not str(spec.get("openapi", "")
                                                                   ).startswith("3.1"):
            checker.problems.append(f"{name}: /v1/openapi.json is not the OpenAPI 3.1 document")
        if build is not None:
            check_helper(build, env, checker, work)
        time.sleep(settle)
        took = stop(proc)
    checker.stderr(name, err_path.read_text(errors="replace"))
    if proc.returncode != 0 and not WINDOWS:
        checker.problems.append(f"{name}: exit status {proc.returncode} after SIGTERM")
    if took > STOP_TIMEOUT:
        checker.problems.append(f"{name}: took {took:.1f} s to stop (limit {STOP_TIMEOUT} s)")
    if (home / "endpoint.json").exists() and not WINDOWS:
        checker.problems.append(f"{name}: endpoint.json left behind after SIGTERM")
    if checker.secret_service and name == "serve":  # only serve logs INFO to stderr
        log = err_path.read_text(errors="replace")
        if not re.search(r"secrets are kept in keyring \(SecretService\)", log):
            said = [line for line in log.splitlines() if "secrets" in line]
            checker.problems.append(f"{name}: did not use the Secret Service; are the keyring"
                                    f" backends bundled? It said: {said}")
    shutil.rmtree(home, ignore_errors=True)
    return ready


def read_frame(stream: object) -> dict[str, object]:
    raw = stream.read(4)  # type: ignore[attr-defined]
    if len(raw) < 4:
        raise SmokeFailure("sessionmgr-helper: no native-messaging frame")
    (length,) = struct.unpack("=I", raw)
    body = json.loads(stream.read(length))  # type: ignore[attr-defined]
    if not isinstance(body, dict):
        raise SmokeFailure("sessionmgr-helper: a frame that is not an object")
    return body


def check_helper(build: Build, env: dict[str, str], checker: Checker, work: Path) -> None:
    """The host as Chromium starts it: origin argument, frames on stdin/stdout."""
    err_path = work / "helper.stderr"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([str(build.helper), CHROMIUM_ORIGIN], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        try:
            deadline = time.monotonic() + 15
            frame: dict[str, object] = {}
            while time.monotonic() < deadline:
                frame = read_frame(proc.stdout)
                if frame.get("type") == "status" and frame.get("daemon") == "up":
                    break
            else:
                checker.problems.append(f"sessionmgr-helper: never saw the daemon up: {frame}")
            assert proc.stdin is not None
            proc.stdin.close()  # the browser went away
            proc.wait(10)
        except (SmokeFailure, subprocess.TimeoutExpired, ValueError) as e:
            checker.problems.append(f"sessionmgr-helper: {e}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    checker.stderr("sessionmgr-helper", err_path.read_text(errors="replace"))
    if proc.returncode != 0:
        checker.problems.append(f"sessionmgr-helper: exit status {proc.returncode}")


def check_version(build: Build, checker: Checker) -> None:
    for exe in dict.fromkeys((build.cli, build.app)):
        if WINDOWS and exe == build.app:
            continue  # windowed: no stdout
        done = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                              timeout=60, env=_env(Path(tempfile.gettempdir())))
        if done.returncode != 0 or not re.fullmatch(r"sessionmgr \d+\.\d+\.\d+\S*\n",
                                                    done.stdout):
            checker.problems.append(
                f"{exe.name} --version: status {done.returncode}, stdout {done.stdout!r}")
        checker.stderr(f"{exe.name} --version", done.stderr)


# -- a private Secret Service (Linux): D-Bus session bus + unlocked gnome-keyring --------

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:dir={dir}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
"""


@contextlib.contextmanager
def secret_service(base: Path) -> Iterator[dict[str, str]]:
    """Yield the environment that points at a fresh, unlocked gnome-keyring."""
    dirs = {k: base / k for k in ("bus", "home", "runtime", "data", "config", "cache")}
    for d in dirs.values():
        d.mkdir(mode=0o700, parents=True)
    (base / "bus.conf").write_text(_BUS_CONFIG.format(dir=dirs["bus"]))
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={base / 'bus.conf'}", "--nofork",
                            "--print-address=1"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    env = {"DBUS_SESSION_BUS_ADDRESS": address, "HOME": str(dirs["home"]),
           "XDG_RUNTIME_DIR": str(dirs["runtime"]), "XDG_DATA_HOME": str(dirs["data"]),
           "XDG_CONFIG_HOME": str(dirs["config"]), "XDG_CACHE_HOME": str(dirs["cache"])}
    keyring = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **env}, text=True)
    try:
        assert keyring.stdin is not None
        keyring.stdin.write("smoke-test-password")  # an empty password fails
        keyring.stdin.close()
        deadline = time.monotonic() + 15
        while True:  # ready when org.freedesktop.secrets has an owner on the bus
            probe = subprocess.run(
                ["dbus-send", f"--bus={address}", "--print-reply", "--dest=org.freedesktop.DBus",
                 "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
                 "string:org.freedesktop.secrets"], capture_output=True, text=True)
            if "boolean true" in probe.stdout:
                break
            if keyring.poll() is not None or time.monotonic() > deadline:
                raise SmokeFailure("gnome-keyring-daemon did not start")
            time.sleep(0.05)
        yield env
    finally:
        for proc in (keyring, bus):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert bus.stdout is not None
        bus.stdout.close()


def run(build: Build, *, secret_service_env: dict[str, str] | None, work: Path) -> list[str]:
    checker = Checker(secret_service=secret_service_env is not None)
    extra = dict(secret_service_env or {})
    # A display or session bus of the caller must not leak in (libdbus would start a
    # stray bus daemon, DESIGN.md section 6); offscreen needs neither.
    if secret_service_env is None:
        extra["DBUS_SESSION_BUS_ADDRESS"] = "disabled:"
    for missing in (build.app, build.cli, build.helper):
        if not missing.is_file():
            return [f"missing executable {missing}"]
    check_version(build, checker)
    serve = check_daemon("serve", [str(build.cli), "serve", "--port", "0"], extra, checker,
                         build, work, qt=False)
    print(f"ok: {build.cli.name} serve answered /v1/health after {serve:.2f} s")
    tray_checker = Checker(secret_service=checker.secret_service, offscreen=True)
    tray_env = {**extra, "QT_QPA_PLATFORM": "offscreen"}
    tray_env.pop("DISPLAY", None)
    tray = check_daemon("tray", [str(build.app)], tray_env, tray_checker, None, work,
                        settle=TRAY_SETTLE, qt=True)
    print(f"ok: offscreen tray answered /v1/health after {tray:.2f} s")
    if build.cli != build.app and not WINDOWS:
        # Windows: sessionmgr-cli.exe runs sessionmgr.exe as a child (no exec), so
        # stopping it would not stop the tray; that path is not smoke-tested there.
        tray = check_daemon("tray (sessionmgr-cli, no command)", [str(build.cli)], tray_env,
                            tray_checker, None, work, settle=TRAY_SETTLE, qt=True)
        print(f"ok: {build.cli.name} without a command started the tray:"
              f" /v1/health after {tray:.2f} s")
    return checker.problems + tray_checker.problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "sessionmgr",
                        help="the one-folder build (default: dist/sessionmgr)")
    parser.add_argument("--bin", type=Path, default=None,
                        help="a directory with installed sessionmgr, sessionmgr-helper "
                             "(e.g. /usr/bin); overrides --dist")
    parser.add_argument("--secret-service", action="store_true",
                        help="run inside a private gnome-keyring (Linux; needs dbus-daemon, "
                             "dbus-send and gnome-keyring-daemon)")
    args = parser.parse_args(argv)
    build = Build.from_dir(args.bin or args.dist)
    with tempfile.TemporaryDirectory(prefix="sessionmgr-smoke-") as tmp:
        work = Path(tmp)
        try:
            if args.secret_service:
                with secret_service(work / "ss") as env:
                    problems = run(build, secret_service_env=env, work=work)
            else:
                problems = run(build, secret_service_env=None, work=work)
        except SmokeFailure as e:
            problems = [str(e)]
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print(f"smoke test passed: {build.app.parent}")
    return 1 if problems else 0


def startup_times(argv: list[str], env_extra: dict[str, str], runs: int,
                  settle: float = 0.0) -> list[float]:
    """Seconds from spawn to a healthy /v1/health, ``runs`` times (for the benchmark)."""
    times = []
    with tempfile.TemporaryDirectory(prefix="sessionmgr-startup-") as tmp:
        for i in range(runs):
            home = Path(tmp) / f"home{i}"
            home.mkdir()
            started = time.monotonic()
            with running(argv, _env(home, env_extra), Path(tmp) / "stderr") as proc:
                wait_for_health(home, proc, START_TIMEOUT)
                times.append(time.monotonic() - started)
                time.sleep(settle)
                stop(proc)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__":
    sys.exit(main())
