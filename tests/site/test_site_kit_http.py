"""The site kit against a real WSGI server on loopback, driven with ``requests``:
authen's session rules (CSRF twin, renewal, expiry, revocation, expected
identity, key rotation), persona-id's hooks, the kit's routes and silent login."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sessionmgr.security.assertions import AssertionKeys, issue_assertion
from sessionmgr.security.secrets import MemorySecretStore
from sessionmgr.security.tokens import HEADER_RENEWAL, HEADER_RENEWAL_ISSUED, HEADER_RENEWAL_MAX_AGE
from sessionmgr.site import Identity, SessionKit
from tests.site.site_helpers import (
    T0,
    Clock,
    claims,
    echo_app,
    session,
    sign_claims,
    wsgi_server,
)

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORDS = {ALICE: "alice-pw", BOB: "bob-pw"}
MAX_AGE, RENEWAL, TRUST = 1000.0, 400.0, 60.0


@dataclass
class Site:
    url: str
    kit: SessionKit
    clock: Clock
    created: list[tuple[str, Identity]]
    destroyed: list[str]

    def login(self, s: requests.Session, email: str = ALICE) -> dict[str, Any]:
        r = s.post(self.url + "/_sessions/login", json={"email": email,
                                                         "password": PASSWORDS[email]})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def me(self, s: requests.Session, **kw: Any) -> requests.Response:
        return s.get(self.url + "/me", **kw)

    def change(self, s: requests.Session, **kw: Any) -> requests.Response:
        return s.post(self.url + "/change", json={}, **kw)


@pytest.fixture
def site() -> Iterator[Site]:
    clock = Clock()
    created: list[tuple[str, Identity]] = []
    destroyed: list[str] = []
    ref: list[Any] = []

    def make(audience: str) -> SessionKit:
        kit = SessionKit(
            echo_app(ref), audience=audience, clock=clock, max_age=MAX_AGE,
            renewal_interval=RENEWAL, trust_delay=TRUST, login_url="/login",
            check_password=lambda e, p: PASSWORDS.get(e) == p,
            on_create=lambda sid, identity: created.append((sid, identity)),
        )
        kit.on("destroy", destroyed.append)
        ref.append(kit)
        return kit

    with wsgi_server(make) as (url, kit):
        yield Site(url, kit, clock, created, destroyed)


def cookie_headers(r: requests.Response) -> list[str]:
    return [v for k, v in r.raw.headers.items() if k.lower() == "set-cookie"]


# ---------------------------------------------------------------- login and cookies


def test_login_sets_an_httponly_auth_cookie_and_a_readable_twin(site: Site) -> None:
    s = session()
    r = s.post(site.url + "/_sessions/login", json={"email": ALICE, "password": "alice-pw"})
    assert r.status_code == 200
    body = r.json()
    assert body["email"] == ALICE and body["isLimited"] is True
    assert body["maxAge"] == MAX_AGE and body["issued"] == T0
    cookies = cookie_headers(r)
    auth = next(c for c in cookies if c.startswith("_sessions_id="))
    twin = next(c for c in cookies if c.startswith("_sessions_id_twin="))
    assert "HttpOnly" in auth and "HttpOnly" not in twin
    for c in (auth, twin):
        assert "SameSite=Lax" in c and "Path=/" in c and f"Max-Age={int(MAX_AGE)}" in c
    assert s.cookies["_sessions_id_twin"] == body["token"]  # the body's token is the twin
    assert s.cookies["_sessions_id"] != body["token"]
    assert site.me(s).json()["email"] == ALICE


def test_wrong_password_and_bad_requests_are_refused(site: Site) -> None:
    s = session()
    r = s.post(site.url + "/_sessions/login", json={"email": ALICE, "password": "nope"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "bad_credentials")
    r = s.post(site.url + "/_sessions/login", json={"email": "eve@example.com", "password": "x"})
    assert r.status_code == 401
    # A cross-site form can only send form encodings: refused before anything else.
    r = s.post(site.url + "/_sessions/login", data={"email": ALICE, "password": "alice-pw"})
    assert (r.status_code, r.json()["error"]["code"]) == (415, "unsupported_media_type")
    r = s.post(site.url + "/_sessions/login", data=b"{nope",
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert s.get(site.url + "/_sessions/login").status_code == 405
    assert s.get(site.url + "/_sessions/nothing").status_code == 404
    assert site.created == [] and not s.cookies


# ---------------------------------------------------------------- CSRF (authen's limited twin)


def test_state_changing_requests_need_the_twin_in_x_auth(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    assert site.me(s).json()["email"] == ALICE  # a safe request: the cookie is enough
    r = site.change(s)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "csrf")
    for method in ("PUT", "PATCH", "DELETE"):
        assert s.request(method, site.url + "/change").status_code == 403
    r = site.change(s, headers={"X-Auth": twin})
    assert r.status_code == 200 and r.json()["email"] == ALICE


def test_the_limited_token_alone_never_authenticates(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    bare = session()
    r = bare.post(site.url + "/change", json={}, headers={"X-Auth": twin})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "limited_token_alone")
    # Nor as the auth cookie.
    bare.cookies.set("_sessions_id", twin)
    assert bare.get(site.url + "/me").json()["email"] is None
    r = bare.post(site.url + "/change", json={}, headers={"X-Auth": twin})
    assert r.status_code == 401


def test_twin_and_auth_token_must_belong_together(site: Site) -> None:
    a, b = session(), session()
    twin_a = site.login(a)["token"]
    twin_b = site.login(b)["token"]  # same account, another session
    r = site.change(a, headers={"X-Auth": twin_b})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "twin_mismatch")
    c = session()
    twin_c = site.login(c, BOB)["token"]
    assert site.change(a, headers={"X-Auth": twin_c}).status_code == 401
    assert site.change(a, headers={"X-Auth": twin_a}).status_code == 200


def test_a_full_auth_token_in_x_auth_works_without_cookies(site: Site) -> None:
    s = session()
    site.login(s)
    token = s.cookies["_sessions_id"]
    r = session().post(site.url + "/change", json={}, headers={"X-Auth": token})
    assert r.status_code == 200 and r.json()["email"] == ALICE


def test_csrf_exempt_paths_see_an_anonymous_request() -> None:
    ref: list[Any] = []

    def make(audience: str) -> SessionKit:
        kit = SessionKit(echo_app(ref), audience=audience, csrf_exempt=("/hook",),
                         check_password=lambda e, p: True)
        ref.append(kit)
        return kit

    with wsgi_server(make) as (url, _kit):
        s = session()
        s.post(url + "/_sessions/login", json={"email": ALICE, "password": "x"})
        assert s.post(url + "/other", json={}).status_code == 403
        r = s.post(url + "/hook", json={})
        assert r.status_code == 200 and r.json()["email"] is None


# ---------------------------------------------------------------- renewal, expiry, revocation


def test_renewal_headers_after_the_renewal_interval(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    r = site.me(s)
    assert HEADER_RENEWAL not in r.headers and not cookie_headers(r)
    site.clock.now += RENEWAL + 1
    r = site.change(s, headers={"X-Auth": twin})
    assert r.status_code == 200
    renewal = r.headers[HEADER_RENEWAL]
    assert float(r.headers[HEADER_RENEWAL_ISSUED]) == site.clock.now
    assert r.headers[HEADER_RENEWAL_MAX_AGE] == str(int(MAX_AGE))
    assert s.cookies["_sessions_id_twin"] == renewal  # the readable twin is the new one
    # The old pair has passed its max age; the renewed pair still works.
    site.clock.now = T0 + MAX_AGE + 1
    r = site.change(s, headers={"X-Auth": renewal})
    assert r.status_code == 200 and r.json()["email"] == ALICE
    assert r.json()["sid"] == site.created[0][0]  # a renewal keeps the session


def test_header_clients_get_a_full_token_as_renewal(site: Site) -> None:
    s = session()
    site.login(s)
    token = s.cookies["_sessions_id"]
    site.clock.now += RENEWAL + 1
    r = session().get(site.url + "/me", headers={"X-Auth": token})
    renewal = r.headers[HEADER_RENEWAL]
    assert renewal != token and not cookie_headers(r)
    r = session().post(site.url + "/change", json={}, headers={"X-Auth": renewal})
    assert r.status_code == 200


def test_expiry_with_an_injected_clock(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    site.clock.now = T0 + MAX_AGE  # exactly max_age: still valid (and renewed, elsewhere)
    copy = session()
    copy.cookies.set("_sessions_id", s.cookies["_sessions_id"])
    assert site.me(copy).json()["email"] == ALICE
    site.clock.now = T0 + MAX_AGE + 0.5
    dead = s.cookies["_sessions_id"]
    r = site.change(s, headers={"X-Auth": twin})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_expired")
    assert "_sessions_id" not in s.cookies  # the dead cookies are cleared
    page = session()
    page.cookies.set("_sessions_id", dead)
    r = site.me(page)  # a page load: anonymous, and cleared too
    assert r.json()["email"] is None
    assert any(c.startswith("_sessions_id=;") and "Max-Age=0" in c for c in cookie_headers(r))


def test_revocation_by_last_revocation_time_with_trust_delay(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    other = session()
    bob_twin = site.login(other, BOB)["token"]
    site.clock.now += 10
    site.kit.revoke(ALICE)
    r = site.change(s, headers={"X-Auth": twin})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_revoked")
    assert site.change(other, headers={"X-Auth": bob_twin}).status_code == 200  # only alice
    # A renewal issued right after the revocation (by a server that had not
    # heard of it yet) is not trusted until the delay has passed.
    sid = "renewed-session"
    site.clock.now += TRUST / 2
    renewal = site.kit.tokens.issue(ALICE, renewal=True, twin=sid).token
    renewal_twin = site.kit.limited.issue(ALICE, renewal=True, twin=sid).token
    late = session()
    late.cookies.set("_sessions_id", renewal)
    r = late.post(site.url + "/change", json={}, headers={"X-Auth": renewal_twin})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_revoked")
    site.clock.now += TRUST
    renewal = site.kit.tokens.issue(ALICE, renewal=True, twin=sid).token
    renewal_twin = site.kit.limited.issue(ALICE, renewal=True, twin=sid).token
    late.cookies.set("_sessions_id", renewal)
    assert late.post(site.url + "/change", json={},
                     headers={"X-Auth": renewal_twin}).status_code == 200
    # A fresh login after the revocation works at once.
    fresh = session()
    assert site.change(fresh, headers={"X-Auth": site.login(fresh)["token"]}).status_code == 200


def test_expected_identity_mismatch_is_409(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    r = site.me(s, headers={"X-Auth-Expected": BOB})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "unexpected_identity")
    assert "_sessions_id" in s.cookies  # another tab's login is not a reason to sign out
    r = site.change(s, headers={"X-Auth": twin, "X-Auth-Expected": BOB})
    assert r.status_code == 409
    r = site.change(s, headers={"X-Auth": twin, "X-Auth-Expected": ALICE})
    assert r.status_code == 200


def test_key_rotation_old_sessions_live_until_the_key_retires(site: Site) -> None:
    old = session()
    old_twin = site.login(old)["token"]
    old_kid = site.kit.keys.newest.kid
    new_kid = site.kit.rotate_keys()
    new = session()
    new_twin = site.login(new)["token"]
    assert new.cookies["_sessions_id"].startswith(new_kid + ".")
    assert new_twin.startswith(new_kid + ".")
    assert site.change(old, headers={"X-Auth": old_twin}).status_code == 200
    site.kit.retire_key(old_kid)
    r = site.change(old, headers={"X-Auth": old_twin})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unknown_key")
    assert site.change(new, headers={"X-Auth": new_twin}).status_code == 200


# ---------------------------------------------------------------- persona-id's hooks and routes


def test_hooks_fire_and_get_id_names_the_session(site: Site) -> None:
    s = session()
    twin = site.login(s)["token"]
    assert len(site.created) == 1
    sid, identity = site.created[0]
    assert identity == Identity(ALICE, site.kit.audience, T0 + MAX_AGE, "password")
    assert identity.audience.startswith("127.0.0.1:")
    assert site.me(s).json()["sid"] == sid
    # Logging out needs the twin too (a cross-site logout is a CSRF).
    r = s.post(site.url + "/_sessions/logout", json={})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "csrf")
    stolen = s.cookies["_sessions_id"]
    r = s.post(site.url + "/_sessions/logout", json={}, headers={"X-Auth": twin})
    assert r.json() == {"status": "signed_out"}
    assert site.destroyed == [sid]
    assert "_sessions_id" not in s.cookies and "_sessions_id_twin" not in s.cookies
    # The session is over on the server: a copy of its cookie is worth nothing.
    replay = session()
    replay.cookies.set("_sessions_id", stolen)
    assert replay.get(site.url + "/me").json() == {"email": None, "sid": None, "method": "GET"}


def test_a_new_login_ends_the_previous_session(site: Site) -> None:
    s = session()
    site.login(s)
    first = site.created[0][0]
    site.login(s, BOB)
    assert site.destroyed == [first]
    assert site.me(s).json()["email"] == BOB


def test_sessions_js_carries_the_settings_and_identity(site: Site) -> None:
    s = session()
    r = s.get(site.url + "/_sessions/sessions.js")
    assert r.headers["Content-Type"].startswith("application/javascript")
    assert r.headers["Cache-Control"] == "no-store"
    assert '"identity":null' in r.text and "/*CONFIG*/" not in r.text
    assert '"base":"/_sessions"' in r.text and '"sessionCookie":"_sessions_id"' in r.text
    site.login(s)
    assert f'"identity":"{ALICE}"' in s.get(site.url + "/_sessions/sessions.js").text


def test_key_registration_needs_a_protected_signed_in_request(site: Site) -> None:
    keys = AssertionKeys(MemorySecretStore())
    public = keys.public_key("127.0.0.1", ALICE)
    s = session()
    r = s.post(site.url + "/_sessions/keys", json={"publicKey": public})
    assert r.status_code == 401
    twin = site.login(s)["token"]
    r = s.post(site.url + "/_sessions/keys", json={"publicKey": public})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "csrf")
    r = s.post(site.url + "/_sessions/keys", json={"publicKey": "short"},
               headers={"X-Auth": twin})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_public_key")
    assert site.kit.store.keys_for(ALICE) == []
    r = s.post(site.url + "/_sessions/keys", json={"publicKey": public}, headers={"X-Auth": twin})
    assert r.status_code == 201
    assert site.kit.store.keys_for(ALICE) == [public]


# ---------------------------------------------------------------- silent login over HTTP


def test_silent_login_with_a_registered_key(site: Site) -> None:
    keys = AssertionKeys(MemorySecretStore())
    site.kit.register_key(ALICE, keys.public_key("127.0.0.1", ALICE))
    s = session()

    def nonce() -> str:
        r = s.post(site.url + "/_sessions/nonce")
        assert r.status_code == 200 and r.json()["audience"] == "127.0.0.1"
        return str(r.json()["nonce"])

    def login(assertion: str) -> requests.Response:
        return session().post(site.url + "/_sessions/login", json={"assertion": assertion})

    good = issue_assertion(keys, site="127.0.0.1", account=ALICE, now=site.clock.now,
                           nonce=nonce())
    r = login(good)
    assert r.status_code == 200 and r.json()["email"] == ALICE
    assert site.created[-1][1].issuer == "sessionmgr"
    assert (login(good).status_code, login(good).json()["error"]["code"]) == (
        401, "nonce_unknown_or_used")  # replayed
    forger = AssertionKeys(MemorySecretStore())
    forged = issue_assertion(forger, site="127.0.0.1", account=ALICE, now=site.clock.now,
                             nonce=nonce())
    assert login(forged).json()["error"]["code"] == "bad_signature"
    # Signed with alice's real key for this site, but for another audience.
    wrong = sign_claims(keys, "127.0.0.1", ALICE,
                        claims("example.org", ALICE, site.clock.now, nonce()))
    assert login(wrong).json()["error"]["code"] == "wrong_audience"
    invented = issue_assertion(keys, site="127.0.0.1", account=ALICE, now=site.clock.now,
                               nonce="not-one-of-ours")
    assert login(invented).json()["error"]["code"] == "nonce_unknown_or_used"
    stale = nonce()
    site.clock.now += 121  # the nonce outlived its 120 s
    late = issue_assertion(keys, site="127.0.0.1", account=ALICE, now=site.clock.now,
                           nonce=stale)
    assert login(late).json()["error"]["code"] == "nonce_unknown_or_used"
    expired = issue_assertion(keys, site="127.0.0.1", account=ALICE, now=site.clock.now - 400,
                              ttl=300, nonce=nonce())
    assert login(expired).json()["error"]["code"] == "expired"
    unknown = issue_assertion(keys, site="127.0.0.1", account=BOB, now=site.clock.now,
                              nonce=nonce())
    assert login(unknown).json()["error"]["code"] == "unknown_key"
    assert len([c for c in site.created if c[1].issuer == "sessionmgr"]) == 1
