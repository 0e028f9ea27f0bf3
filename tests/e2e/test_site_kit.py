"""The site kit end to end: the example site (examples/site), Debian's headless
Chromium with the extension, the helper and a real daemon.

A password login makes the site declare itself; "log out" from sessionmgr
ends the site's session; a switch works; after "stay signed in", a fresh
browser profile with the same pairing is signed in by a silent login that the
site verifies with the key it registered; forged and replayed assertions are
refused. The tests run in order on one module fixture.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sessionmgr.helper import install
from tests.e2e.test_chromium import (
    CHROMEDRIVER,
    CHROMIUM,
    LATENCY,
    ROOT,
    Daemon,
    _helper_pids,
    start_chromium,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

from selenium.common.exceptions import WebDriverException  # noqa: E402

SITE = "127.0.0.1"
ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORDS = {ALICE: "alice-password", BOB: "bob-password"}
COOKIE = "_sessions_id"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("example_site", ROOT / "examples/site/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class World:
    def __init__(self, base: Path, home: Path, daemon: Daemon, url: str, site: Any) -> None:
        self.base = base
        self.home = home
        self.daemon = daemon
        self.url = url
        self.site = site
        self.driver: Any = None
        self.http = requests.Session()
        self.http.trust_env = False

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def page(self, script: str) -> Any:
        """``script``'s value, or None while the page is between two documents."""
        try:
            return self.js(script)
        except WebDriverException:
            return None

    def who(self) -> Any:
        return self.page("const w = document.getElementById('who'); "
                         "return w && document.readyState === 'complete' ? w.textContent : null")

    def me(self) -> Any:
        return self.driver.execute_async_script(
            "fetch('/api/me').then(r => r.json()).then(arguments[0])")["email"]

    def sign_in(self, email: str) -> None:
        """Type the password into the page's sign-in form, as a person would."""
        wait_for(lambda: self.page("const s = document.getElementById('signin'); "
                                   "return !!s && !s.hidden"), LATENCY, "sign-in form shown")
        self.js("document.getElementById('email').value = arguments[0];"
                "document.getElementById('password').value = arguments[1];"
                "document.getElementById('submit').click();", email, PASSWORDS[email])
        wait_for(lambda: self.who() == email, 5, f"page shows {email}")

    def state(self) -> dict[str, Any]:
        return self.daemon.site(SITE) or {}

    def log(self) -> list[tuple[str, str, str | None]]:
        with self.site.lock:
            return list(self.site.log)

    def new_browser(self, name: str) -> None:
        profile = self.base / name
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SESSIONMGR_HOME", str(self.home))
            mp.setenv("SESSIONMGR_SECRETS", "file")
            install.install("chromium", user_data_dir=profile, uninstall=False)
        self.driver = start_chromium(profile)

    def quit_browser(self) -> None:
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
        # Without the browser its hosts see EOF and exit by themselves.
        wait_for(lambda: not _helper_pids(self.home), 10, "helper exit")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs Debian's chromium and chromium-driver (scripts/bootstrap.sh --test)")
    base = tmp_path_factory.mktemp("sitekit")
    home = base / "home"
    home.mkdir()
    daemon = Daemon(home)
    server, site = _load_example().serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    w = World(base, home, daemon, f"http://{SITE}:{server.server_address[1]}", site)
    try:
        daemon.start()
        w.new_browser("profile1")
        w.driver.get(w.url + "/")
        origin = f"chrome-extension://{install.CHROMIUM_EXTENSION_ID}"

        def pending_pairing() -> dict[str, Any] | None:
            listed = daemon.api("GET", "/v1/pairings")["pairings"]
            return next((p for p in listed if p["status"] == "pending"
                         and p.get("origin") == origin), None)

        pairing = wait_for(pending_pairing, 15, "pairing request")
        daemon.api("POST", f"/v1/pairings/{pairing['id']}/approve", {}, expect=200)
        # Once paired, the page's declaration (sessions.js declares on load) arrives.
        w.driver.get(w.url + "/")
        wait_for(lambda: w.state().get("supported"), 10, "the site declares after pairing")
        yield w
    finally:
        with contextlib.suppress(Exception):
            if w.driver is not None:
                w.driver.quit()
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not _helper_pids(home), 10, "helper exit")
        for pid in _helper_pids(home):  # only processes this test started
            os.kill(pid, signal.SIGKILL)
        daemon.stop()
        daemon.http.close()
        w.http.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        shutil.rmtree(base, ignore_errors=True)


def test_a_password_login_makes_the_site_declare(world: World) -> None:
    world.driver.get(world.url + "/")
    wait_for(lambda: world.who() == "nobody", 5, "anonymous page")
    state = world.state()
    assert state["supported"] is True and state["active"] is None
    assert state["indicator"] == "login"
    world.sign_in(ALICE)
    state = wait_for(lambda: (s := world.state()).get("active") == ALICE and s, LATENCY,
                     "password login → declared → API")
    assert state["binding"] == {"type": "cookie", "cookie_name": COOKIE}
    assert state["sessions"][0] == {"email": ALICE, "status": "active",
                                    "bound_to": {"type": "cookie", "cookie_name": COOKIE}}
    assert world.driver.get_cookie(COOKIE)["httpOnly"] is True
    assert world.log()[-1][0::2] == ("create", ALICE)


def test_log_out_from_sessionmgr_destroys_the_site_session(world: World) -> None:
    old_cookie = world.driver.get_cookie(COOKIE)["value"]
    sid = world.log()[-1][1]
    world.daemon.api("POST", f"/v1/sites/{SITE}/logout", {}, expect=202)
    wait_for(lambda: ("destroy", sid, ALICE) in world.log(), LATENCY,
             "logout event → the site ends the session")
    wait_for(lambda: world.driver.get_cookie(COOKIE) is None, LATENCY, "cookie cleared")
    state = wait_for(lambda: (s := world.state()).get("pending") is None
                     and s.get("active") is None and s, LATENCY, "logout confirmed")
    assert state["supported"] is True
    wait_for(lambda: world.who() == "nobody", 5, "page anonymous")
    assert world.me() is None
    # The old cookie is worth nothing now: the session is over on the server.
    r = world.http.get(world.url + "/api/me", cookies={COOKIE: old_cookie}, timeout=5)
    assert r.json() == {"email": None}


def test_switch_from_sessionmgr(world: World) -> None:
    world.sign_in(BOB)
    state = wait_for(lambda: (s := world.state()).get("active") == BOB and s, LATENCY,
                     "bob active")
    assert [(s["email"], s["status"]) for s in state["sessions"]] == [
        (BOB, "active"), (ALICE, "passive")]  # accounts used in this browser are offered
    bob_sid = world.log()[-1][1]
    answer = world.daemon.api("POST", f"/v1/sites/{SITE}/login",
                              {"id": ALICE, "persistent": False}, expect=202)
    assert answer["event"]["previous"] == BOB
    # The site ends bob's session and asks for alice's password on the same page.
    wait_for(lambda: ("destroy", bob_sid, BOB) in world.log(), LATENCY, "bob's session ended")
    assert world.js("return document.getElementById('email').value") == ALICE
    assert (world.state().get("pending") or {}).get("type") == "login"  # still pending
    world.sign_in(ALICE)
    state = wait_for(lambda: (s := world.state()).get("active") == ALICE
                     and s.get("pending") is None and s, LATENCY, "switch confirmed")
    assert world.me() == ALICE


def test_stay_signed_in_then_a_fresh_profile_signs_in_silently(world: World) -> None:
    world.daemon.api("POST", f"/v1/sites/{SITE}/logout", {}, expect=202)
    wait_for(lambda: (s := world.state()).get("active") is None and s.get("pending") is None,
             LATENCY, "signed out")
    wait_for(lambda: world.who() == "nobody", 5, "page anonymous")
    event = world.daemon.api("POST", f"/v1/sites/{SITE}/login",
                             {"id": ALICE, "persistent": True}, expect=202)["event"]
    public_key = event["public_key"]
    assert isinstance(public_key, str) and len(public_key) == 43
    world.sign_in(ALICE)
    state = wait_for(lambda: (s := world.state()).get("persistent") and s, LATENCY,
                     "stay signed in confirmed")
    assert state["persistent"]["id"] == ALICE and state["active"] == ALICE
    # The page registered sessionmgr's key for alice once she was signed in.
    wait_for(lambda: world.site.kit.store.keys_for(ALICE) == [public_key], LATENCY,
             "public key registered")
    assert world.site.kit.store.keys_for(BOB) == []
    helpers = helper_ids(world)

    # A new browser profile (no cookies, no storage), paired as before.
    world.quit_browser()
    world.new_browser("profile2")
    world.driver.get(world.url + "/")
    wait_for(lambda: world.who() == ALICE, 10, "fresh profile: silent login → alice")
    identity = next(i for i in world.site.sessions.values()
                    if i.issuer == "sessionmgr")
    assert identity.email == ALICE and identity.audience == world.url.removeprefix("http://")
    assert world.driver.get_cookie(COOKIE) is not None
    assert world.me() == ALICE
    wait_for(lambda: world.state().get("active") == ALICE, LATENCY, "declared from profile 2")
    assert helper_ids(world) == helpers  # the same pairing
    assert not [p for p in world.daemon.api("GET", "/v1/pairings")["pairings"]
                if p["status"] == "pending"]


def helper_ids(world: World) -> list[str]:
    return sorted(h["id"] for h in world.daemon.api("GET", "/v1/helpers")["helpers"])


def _assertion_from_the_browser(world: World) -> str:
    """What the site's page gets: a nonce from the site, an assertion from sessionmgr."""
    assertion = world.driver.execute_async_script("""
        const done = arguments[0];
        fetch('/_sessions/nonce', {method: 'POST'}).then(r => r.json()).then(({nonce}) =>
          navigator.id.get((a) => done(a), {silent: true, nonce}));
    """)
    assert isinstance(assertion, str)
    return assertion


def test_forged_or_replayed_assertions_are_refused(world: World) -> None:
    def login(assertion: str) -> requests.Response:
        return world.http.post(world.url + "/_sessions/login", json={"assertion": assertion},
                               timeout=5)

    assertion = _assertion_from_the_browser(world)
    r = login(assertion)
    assert r.status_code == 200 and r.json()["email"] == ALICE
    r = login(assertion)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "nonce_unknown_or_used")

    # Claims rewritten to say bob (with a key registered for bob too): the signature fails.
    fresh = _assertion_from_the_browser(world)
    first, sig = fresh.split(".")
    claims = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    claims["sub"] = BOB
    world.site.kit.register_key(BOB, world.site.kit.store.keys_for(ALICE)[0])
    forged_first = base64.urlsafe_b64encode(
        json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()).rstrip(b"=").decode()
    r = login(f"{forged_first}.{sig}")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "bad_signature")
    # A signature from some other key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().sign(first.encode())
    r = login(f"{first}.{base64.urlsafe_b64encode(other).rstrip(b'=').decode()}")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "bad_signature")
    # The untouched one still works once: refusals never burn its nonce.
    assert login(fresh).status_code == 200
