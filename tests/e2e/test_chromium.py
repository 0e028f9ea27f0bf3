"""The whole loop in a real browser: demo page → extension → sessionmgr-helper → daemon → back.

Debian's headless Chromium with the unpacked extension, driven by Selenium and
Debian's chromedriver; a real ``sessionmgr serve`` process; the demo page of
``examples/sessions-demo`` served on 127.0.0.1. The page is opened with
``?manual`` so it only records the login/logout events and the test decides
when it redeclares (to see the pending state); the last test uses the page as
an unmodified site would.

Every wait polls a condition until a deadline; the 2 s deadlines are the
issue's latency requirements.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from sessionmgr.helper import install

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "sessions-demo"
SITE = "127.0.0.1"
ALICE, BOB = "alice@example.com", "bob@example.com"
LATENCY = 2.0  # the bound for declaration → API and API → DOM event

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    # The test command installs both (scripts/bootstrap.sh --test): missing means broken.
    pytest.fail("needs Debian's chromium and chromium-driver", pytrace=False)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

TIMINGS: dict[str, float] = {}


def start_chromium(profile: Path, *, script_timeout: float = 15) -> Any:
    """Debian's headless Chromium with the extension, in its own profile, off the network."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", f"--load-extension={install.extension_dir()}",
        f"--user-data-dir={profile}", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        options=options, service=Service(str(CHROMEDRIVER), log_output=subprocess.DEVNULL))
    driver.set_script_timeout(script_timeout)
    return driver


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy; returns it. Records how long it took."""
    start = time.monotonic()
    deadline = start + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except (requests.RequestException, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            TIMINGS[what] = time.monotonic() - start
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(0.02)


# ---------------------------------------------------------------- the daemon


class Daemon:
    """``sessionmgr serve --port 0`` on a fixed home, restartable."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.env.update(SESSIONMGR_HOME=str(home), SESSIONMGR_SECRETS="file",
                        PYTHONUNBUFFERED="1")
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        self.http = requests.Session()
        self.http.trust_env = False

    def start(self) -> None:
        endpoint = self.home / "endpoint.json"
        log = open(self.home / "daemon-stderr.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sessionmgr", "serve", "--port", "0"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=log,
        )
        log.close()
        proc = self.process

        def ready() -> dict[str, Any] | None:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited with {proc.returncode}")
            try:
                info = json.loads(endpoint.read_text())
            except (OSError, ValueError):
                return None
            return info if info.get("pid") == proc.pid else None

        info = wait_for(ready, 15, "daemon start")
        self.url, self.token = info["url"], info["token"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def api(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        response = self.http.request(
            method, self.url + path, json=body, timeout=5, allow_redirects=False,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        if response.status_code == 404:
            return None
        return response.json() if response.content else None

    def site(self, site: str = SITE) -> dict[str, Any] | None:
        return self.api("GET", f"/v1/sites/{site}")


# ---------------------------------------------------------------- the demo server


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _helper_pids(home: Path) -> list[int]:
    """sessionmgr-helper processes whose SESSIONMGR_HOME is ``home`` (ours only)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"sessionmgr-helper" not in cmdline and b"sessionmgr.helper" not in cmdline:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"SESSIONMGR_HOME={home}".encode() in environ:
            pids.append(int(proc.name))
    return pids


# ---------------------------------------------------------------- the world


class World:
    def __init__(self, daemon: Daemon, driver: Any, page_url: str, home: Path) -> None:
        self.daemon = daemon
        self.driver = driver
        self.page_url = page_url
        self.home = home

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def events(self) -> list[dict[str, Any]]:
        return self.js("return window.demo.events.slice()")

    def fresh_page(self) -> None:
        """Forget the demo site's state in the page, the cookie jar and the daemon."""
        self.js("window.demo.reset()")
        self.driver.get(self.page_url)
        wait_for(lambda: self.js("return !!(window.demo && navigator.id)"), 10, "demo page")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("chromium")
    home, profile = base / "home", base / "profile"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        # The manifest's launcher pins these, so the host finds this daemon.
        mp.setenv("SESSIONMGR_HOME", str(home))
        mp.setenv("SESSIONMGR_SECRETS", "file")
        install.install("chromium", user_data_dir=profile, uninstall=False)

    daemon = Daemon(home)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(DEMO)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page_url = f"http://{SITE}:{server.server_address[1]}/index.html?manual"

    driver = None
    try:
        daemon.start()
        driver = start_chromium(profile, script_timeout=10)
        w = World(daemon, driver, page_url, home)
        driver.get(page_url)

        origin = f"chrome-extension://{install.CHROMIUM_EXTENSION_ID}"

        def pending_pairing() -> dict[str, Any] | None:
            listed = daemon.api("GET", "/v1/pairings")["pairings"]
            return next((p for p in listed if p["status"] == "pending"
                         and p.get("origin") == origin), None)

        pairing = wait_for(pending_pairing, 15, "pairing request")
        assert pairing["name"].startswith("Chromium on ")
        # The popup shows the code the person compares with the app's dialog.
        main = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(f"chrome-extension://{install.CHROMIUM_EXTENSION_ID}/popup.html")
        wait_for(lambda: driver.execute_script(
            "return document.getElementById('code').textContent") == pairing["code"],
            5, "popup shows the pairing code")
        driver.close()
        driver.switch_to.window(main)
        daemon.api("POST", f"/v1/pairings/{pairing['id']}/approve", {}, expect=200)
        # The helper learns of the approval by polling; a first declaration
        # going through proves it holds its token.
        w.js("window.demo.declare([])")
        wait_for(lambda: daemon.site() is not None, 10, "first declaration after pairing")
        yield w
    finally:
        if driver is not None:
            driver.quit()
        # Without the browser the hosts see EOF on stdin and exit by themselves.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not _helper_pids(home), 10, "helper exit")
        for pid in _helper_pids(home):  # only processes this test started
            os.kill(pid, signal.SIGKILL)
        daemon.stop()
        daemon.http.close()
        server.shutdown()
        server.server_close()
        if TIMINGS:
            print("\ne2e timings (s):", json.dumps({k: round(v, 3) for k, v in TIMINGS.items()},
                                                   indent=1))
        shutil.rmtree(profile, ignore_errors=True)


def active(state: dict[str, Any] | None) -> str | None:
    return state["active"] if state else None


def emails(state: dict[str, Any] | None) -> list[str]:
    return [s["email"] for s in state["sessions"]] if state else []


def helper_ids(daemon: Daemon) -> list[str]:
    answer = daemon.api("GET", "/v1/helpers")
    listed = answer["helpers"] if isinstance(answer, dict) else answer
    return sorted(h["id"] for h in listed)


# ---------------------------------------------------------------- the tests


def test_declared_accounts_reach_the_daemon(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")
    state = wait_for(lambda: (s := world.daemon.site()) and emails(s) == [ALICE, BOB] and s,
                     LATENCY, "two accounts declared → API")
    assert state["supported"] is True
    assert state["active"] == ALICE and state["indicator"] == ALICE
    assert [s["status"] for s in state["sessions"]] == ["active", "passive"]
    assert state["binding"] == {"type": "cookie", "cookie_name": "demo_sid"}
    assert state["source"] == "declared"


def test_owner_switch_fires_a_login_event_with_the_id(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")
    wait_for(lambda: active(world.daemon.site()) == ALICE, LATENCY, "alice active")

    answer = world.daemon.api("POST", f"/v1/sites/{SITE}/login",
                              {"id": BOB, "persistent": False}, expect=202)
    assert answer["event"]["account"] == BOB and answer["event"]["previous"] == ALICE
    events = wait_for(lambda: [e for e in world.events() if e["type"] == "login"],
                      LATENCY, "owner switch → login DOM event")
    assert events == [{"type": "login", "id": BOB, "previous": ALICE, "persistent": False,
                       "publicKey": None}]
    # An unmodified page reads event.id, exactly as the seed says.
    assert world.js("return window.demo.events[0].id") == BOB
    assert (world.daemon.site() or {}).get("pending", {})["type"] == "login"

    world.js(f"window.demo.signIn('{BOB}')")  # the site redeclares
    state = wait_for(lambda: (s := world.daemon.site()) and s["pending"] is None and s,
                     LATENCY, "redeclaration → pending clears")
    assert state["active"] == BOB


def test_owner_logout_fires_a_logout_event(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{BOB}')")
    wait_for(lambda: active(world.daemon.site()) == BOB, LATENCY, "bob active")

    world.daemon.api("POST", f"/v1/sites/{SITE}/logout", {}, expect=202)
    wait_for(lambda: [e for e in world.events() if e["type"] == "logout"],
             LATENCY, "owner logout → logout DOM event")
    assert (world.daemon.site() or {}).get("pending", {})["type"] == "logout"

    world.js("window.demo.signOut()")
    state = wait_for(lambda: (s := world.daemon.site()) and s["pending"] is None and s,
                     LATENCY, "logout redeclaration → pending clears")
    assert state["active"] is None and state["indicator"] == "login"
    assert emails(state) == [ALICE, BOB]


def test_undefined_falls_back_to_the_bound_cookie_r5(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")  # sets demo_sid, declares the binding
    wait_for(lambda: (s := world.daemon.site()) and s["binding"] and s["active"] == ALICE,
             LATENCY, "binding declared")

    world.js("window.demo.declare(undefined)")
    state = wait_for(lambda: (s := world.daemon.site()) and s["source"] == "binding" and s,
                     LATENCY, "undefined with the cookie → binding holds")
    assert state["supported"] is True and state["active"] == ALICE

    world.js("window.demo.clearCookie()")  # only the cookies API sees this
    state = wait_for(lambda: (s := world.daemon.site()) and not s["supported"] and s,
                     LATENCY, "bound cookie cleared → expired")
    assert state["binding"] is None and state["indicator"] is None


def test_empty_array_clears_the_binding_r6(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")
    wait_for(lambda: (s := world.daemon.site()) and s["binding"], LATENCY, "binding declared")

    world.js("window.demo.declare([])")
    state = wait_for(lambda: (s := world.daemon.site()) and s["sessions"] == [] and s,
                     LATENCY, "[] → supported, nobody")
    assert state["supported"] is True and state["binding"] is None
    assert state["indicator"] == "login"

    assert world.driver.get_cookie("demo_sid") is not None  # still there, and ignored
    world.js("window.demo.declare(undefined)")
    state = wait_for(lambda: (s := world.daemon.site()) and not s["supported"] and s,
                     LATENCY, "undefined after [] → not supported despite the cookie")
    assert state["source"] == "none"


def test_page_declares_on_load_before_any_script_of_its_own(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{BOB}')")
    wait_for(lambda: active(world.daemon.site()) == BOB, LATENCY, "bob active")
    world.js("window.demo.declare([])")
    wait_for(lambda: (s := world.daemon.site()) and s["sessions"] == [], LATENCY, "[]")
    # demo.js in <head> redeclares from localStorage at document start.
    world.driver.get(world.page_url)
    wait_for(lambda: active(world.daemon.site()) == BOB, LATENCY, "reload redeclares")


def test_daemon_restart_the_helper_reconnects(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")
    wait_for(lambda: active(world.daemon.site()) == ALICE, LATENCY, "alice active")
    helpers_before = helper_ids(world.daemon)

    world.daemon.stop()
    assert not (world.home / "endpoint.json").exists()
    world.js(f"window.demo.signIn('{BOB}')")  # declared while nobody listens
    world.daemon.start()

    state = wait_for(lambda: active(world.daemon.site()) == BOB and world.daemon.site(),
                     10, "daemon restart → declaration made while down arrives")
    assert emails(state) == [ALICE, BOB]
    assert helper_ids(world.daemon) == helpers_before  # no re-pairing
    assert not [p for p in world.daemon.api("GET", "/v1/pairings")["pairings"]
                if p["status"] == "pending"]

    # Events flow again too (the helper re-registered its events URL).
    world.daemon.api("POST", f"/v1/sites/{SITE}/login", {"id": ALICE, "persistent": False},
                     expect=202)
    wait_for(lambda: [e for e in world.events() if e["type"] == "login" and e["id"] == ALICE],
             LATENCY, "login event after daemon restart")


def test_popup_shows_the_pairing_and_the_daemon(world: World) -> None:
    driver = world.driver
    main = driver.current_window_handle
    driver.switch_to.new_window("tab")
    try:
        driver.get(f"chrome-extension://{install.CHROMIUM_EXTENSION_ID}/popup.html")
        wait_for(lambda: driver.execute_script(
            "return document.getElementById('paired').textContent") == "yes", 5, "popup: paired")
        assert driver.execute_script(
            "return document.getElementById('daemon').textContent") == "reachable"
        assert driver.execute_script(
            "return document.getElementById('helper').textContent") == "running"
    finally:
        driver.close()
        driver.switch_to.window(main)


def test_an_unmodified_page_follows_a_switch(world: World) -> None:
    world.fresh_page()
    world.driver.get(world.page_url.replace("?manual", ""))
    world.js(f"window.demo.signIn('{ALICE}')")
    wait_for(lambda: active(world.daemon.site()) == ALICE, LATENCY, "alice active (auto page)")
    world.daemon.api("POST", f"/v1/sites/{SITE}/login", {"id": BOB, "persistent": False},
                     expect=202)
    state = wait_for(lambda: (s := world.daemon.site()) and s["active"] == BOB
                     and s["pending"] is None and s, LATENCY, "switch round trip (auto page)")
    assert emails(state) == [ALICE, BOB]


def test_helper_killed_the_extension_respawns_it_and_resends(world: World) -> None:
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")
    wait_for(lambda: active(world.daemon.site()) == ALICE, LATENCY, "alice active")
    old = _helper_pids(world.home)
    assert len(old) == 1
    os.kill(old[0], signal.SIGKILL)  # the host this test's browser started
    wait_for(lambda: old[0] not in _helper_pids(world.home), 5, "old helper gone")
    world.js(f"window.demo.signIn('{BOB}')")  # declared while no host runs
    wait_for(lambda: active(world.daemon.site()) == BOB, 10,
             "helper respawned → declaration made meanwhile arrives")
    new = _helper_pids(world.home)
    assert len(new) == 1 and new != old
    # The new process reuses the stored pairing and gets events.
    world.daemon.api("POST", f"/v1/sites/{SITE}/logout", {}, expect=202)
    wait_for(lambda: [e for e in world.events() if e["type"] == "logout"],
             LATENCY, "logout event through the respawned helper")


def test_login_status_api_is_reported_for_other_sites(world: World) -> None:
    driver = world.driver
    if not world.js("return !!(navigator.login && navigator.login.setStatus)"):
        pytest.skip("this Chromium has no navigator.login (Login Status API)")
    world.fresh_page()
    world.js(f"window.demo.signIn('{ALICE}')")
    wait_for(lambda: (s := world.daemon.site()) and s["active"] == ALICE and not s["pending"],
             LATENCY, "alice active, nothing pending")
    # A pending action survives focus changes: focus is PUT /v1/focus, never a redeclaration.
    world.daemon.api("POST", f"/v1/sites/{SITE}/logout", {}, expect=202)
    main = driver.current_window_handle
    other = world.page_url.replace(f"//{SITE}:", "//localhost:").replace("?manual", "")
    driver.switch_to.new_window("tab")
    try:
        driver.get(other)
        driver.execute_async_script(
            "navigator.login.setStatus('logged-in').finally(arguments[0])")
        state = wait_for(lambda: world.daemon.site("localhost"), LATENCY,
                         "Login Status logged-in → API")
        assert state["api"] == "login-status"
        assert [s["email"] for s in state["sessions"]] == ["(signed in)"]
        assert state["focused"] is True
        driver.execute_async_script(
            "navigator.login.setStatus('logged-out').finally(arguments[0])")
        state = wait_for(lambda: (s := world.daemon.site("localhost")) and s["sessions"] == []
                         and s, LATENCY, "Login Status logged-out → API")
        assert state["supported"] is True

        # Focus follows the active tab.
        driver.switch_to.window(main)
        wait_for(lambda: (world.daemon.site() or {}).get("focused"), LATENCY,
                 "tab switch → focus")
        assert world.daemon.site("localhost")["focused"] is False  # type: ignore[index]
        assert (world.daemon.site() or {})["pending"]["type"] == "logout"
    finally:
        driver.switch_to.window(driver.window_handles[-1])
        if driver.current_window_handle != main:
            driver.close()
        driver.switch_to.window(main)
