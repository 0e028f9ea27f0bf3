"""The site kit: a WSGI middleware that gives any Python web app persona-id's
server API, authen's cookie sessions with CSRF twin tokens, the
``navigator.id.sessions`` browser shim and persistent login verified with a
registered Ed25519 public key. See docs/site-kit.md.

Session model (authen's, on :mod:`sessionmgr.security.tokens`):

- a login issues an *auth* token (purpose ``site-auth``) in an httpOnly
  cookie and a *limited* twin (purpose ``site-auth-limited``) in a readable
  cookie and in the response body; both carry the session id as their twin id;
- a safe request (GET, HEAD, OPTIONS) is authenticated by the auth cookie;
- a state-changing request (POST, PUT, PATCH, DELETE) must also send the
  limited token in ``X-Auth`` (or a full auth token there, for clients without
  cookies); the cookie alone is a 403 ``csrf``; the limited token alone never
  authenticates; both must carry the same identity and session id;
- after ``renewal_interval`` a request gets renewal headers (and cookies);
- tokens expire after ``max_age``; an identity's tokens issued up to its last
  revocation are dead, renewals within ``trust_delay`` after it too;
- ``X-Auth-Expected`` naming another identity is a 409.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from sessionmgr.core.sitekey import normalize_site
from sessionmgr.errors import InvalidInput
from sessionmgr.security import assertions
from sessionmgr.security.tokens import (
    BadSignature,
    IssuedToken,
    KeySet,
    TokenData,
    Tokener,
    TokenError,
    UnexpectedIdentity,
)
from sessionmgr.site.stores import KitStore, MemoryStore, StoreFull

log = logging.getLogger("sessionmgr.site")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

ENVIRON_AUTH: Final = "sessionmgr.site.auth"
STATE_CHANGING: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY: Final = 16 * 1024
MAX_EMAIL: Final = 254
NONCE_BYTES: Final = 24
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_COOKIE_NAME_RE: Final = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
_JS_CONTENT: Final = "application/javascript; charset=utf-8"


@dataclass(frozen=True)
class Identity:
    """persona-id's identity object, handed to ``on_create``."""

    email: str
    audience: str
    expires: float  # when the session's tokens stop being valid (Unix seconds)
    issuer: str  # "password" for a password login, the assertion's issuer for a silent one


@dataclass(frozen=True)
class Auth:
    """Who a request is authenticated as; in ``environ["sessionmgr.site.auth"]``."""

    email: str
    sid: str
    issued: float
    protected: bool  # carried X-Auth: the request may change state


class AuthProblem(Exception):
    """authen's AuthProblem: ``status`` and a snake_case ``code`` for the client."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LoginRefused(AuthProblem):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(401, code, message)


@dataclass
class _Outcome:
    """What authenticating one request found, including what to send back."""

    auth: Auth | None = None
    problem: AuthProblem | None = None
    renewal: tuple[IssuedToken, IssuedToken] | None = None  # (auth, limited)
    via_cookie: bool = False
    clear_cookies: bool = False


def site_key(audience: str) -> str:
    """The sessionmgr site key (host name) of an audience: ``host``, ``host:port`` or a URL."""
    if not isinstance(audience, str) or not audience:
        raise ValueError("audience is mandatory: the host[:port] or origin of the site")
    text = audience if "//" in audience else f"//{audience}"
    host = urllib.parse.urlsplit(text).hostname
    if not host:
        raise ValueError(f"cannot find a host name in the audience {audience!r}")
    try:
        return normalize_site(host, field="audience")
    except InvalidInput as e:
        raise ValueError(str(e)) from None


def _cookie_value(header: str, name: str) -> str | None:
    """The first cookie ``name`` in a Cookie header (the most specific path comes first)."""
    for part in header.split(";"):
        key, eq, value = part.strip().partition("=")
        if eq and key == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def _public_key_ok(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 43:
        return False
    try:
        return len(assertions.b64url_decode(value)) == 32
    except (ValueError, binascii.Error):
        return False


def _email_ok(value: object) -> bool:
    return (
        isinstance(value, str) and 0 < len(value) <= MAX_EMAIL and not _CONTROL.search(value)
    )


class SessionKit:
    """WSGI middleware; ``app`` may be None to use only ``test``/``handle``/``get_id``."""

    def __init__(
        self,
        app: WSGIApp | None = None,
        *,
        audience: str,
        prefix: str = "_sessions",
        session_cookie: str = "_sessions_id",
        twin_cookie: str | None = None,
        check_password: Callable[[str, str], bool] | None = None,
        login_url: str | None = None,
        keys: KeySet | None = None,
        store: KitStore | None = None,
        max_age: float = 14 * 86400,
        renewal_interval: float = 7 * 86400,
        clock_deviation: float = 300,
        trust_delay: float = 300,
        nonce_ttl: float = 120,
        secure_cookies: bool = False,
        same_site: str = "Lax",
        cookie_path: str = "/",
        csrf_exempt: Iterable[str] = (),
        auto_silent: bool = True,
        clock: Callable[[], float] = time.time,
        on_create: Callable[[str, Identity], None] | None = None,
        on_destroy: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.audience = audience
        self.site = site_key(audience)
        if not _PREFIX_RE.fullmatch(prefix.strip("/")):
            raise ValueError("prefix is a short path segment like '_sessions'")
        self.prefix = prefix.strip("/")
        twin_cookie = twin_cookie or f"{session_cookie}_twin"
        for name in (session_cookie, twin_cookie):
            if not _COOKIE_NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not a cookie name")
        if session_cookie == twin_cookie:
            raise ValueError("the session and twin cookies need two names")
        if same_site not in ("Lax", "Strict", "None"):
            raise ValueError("same_site is Lax, Strict or None")
        self.session_cookie = session_cookie
        self.twin_cookie = twin_cookie
        self.check_password = check_password
        self.login_url = login_url
        self.clock = clock
        self.store: KitStore = store if store is not None else MemoryStore()
        self.keys = keys if keys is not None else KeySet.generate(clock())
        common: dict[str, Any] = {
            "max_age": max_age, "renewal_interval": renewal_interval,
            "clock_deviation": clock_deviation, "trust_delay": trust_delay,
            "clock": clock, "last_revocation": self.store.last_revocation,
        }
        self.tokens = Tokener(self.keys, "site-auth", **common)
        self.limited = Tokener(self.keys, "site-auth-limited", **common)
        self.nonce_ttl = float(nonce_ttl)
        self.secure_cookies = secure_cookies
        self.same_site = same_site
        self.cookie_path = cookie_path
        self.csrf_exempt = tuple(csrf_exempt)
        self.auto_silent = auto_silent
        self._create_hooks: list[Callable[[str, Identity], None]] = []
        self._destroy_hooks: list[Callable[[str], None]] = []
        if on_create is not None:
            self._create_hooks.append(on_create)
        if on_destroy is not None:
            self._destroy_hooks.append(on_destroy)
        self._shim_lock = threading.Lock()
        self._shim: str | None = None

    def __repr__(self) -> str:
        return f"SessionKit(audience={self.audience!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ hooks

    def on_create(self, fn: Callable[[str, Identity], None]) -> Callable[[str, Identity], None]:
        """persona-id's ``create`` event: ``fn(sid, identity)``; usable as a decorator."""
        self._create_hooks.append(fn)
        return fn

    def on_destroy(self, fn: Callable[[str], None]) -> Callable[[str], None]:
        """persona-id's ``destroy`` event: ``fn(sid)``; usable as a decorator."""
        self._destroy_hooks.append(fn)
        return fn

    def on(self, event: str, fn: Callable[..., None]) -> Callable[..., None]:
        """``kit.on("create", fn)`` / ``kit.on("destroy", fn)``, as persona-id spells it."""
        if event == "create":
            return self.on_create(fn)
        if event == "destroy":
            return self.on_destroy(fn)
        raise ValueError("events are 'create' and 'destroy'")

    def _fire_create(self, sid: str, identity: Identity) -> None:
        for fn in list(self._create_hooks):
            fn(sid, identity)

    def _fire_destroy(self, sid: str) -> None:
        for fn in list(self._destroy_hooks):
            fn(sid)

    # ------------------------------------------------------------------ persona-id's server API

    def _base(self, environ: dict[str, Any]) -> str:
        return environ.get("SCRIPT_NAME", "").rstrip("/") + "/" + self.prefix

    def test(self, environ: dict[str, Any]) -> bool:
        """True if the request is for the kit's own routes (``/{prefix}/...``)."""
        path = environ.get("PATH_INFO", "")
        return path == f"/{self.prefix}" or path.startswith(f"/{self.prefix}/")

    def get_id(self, environ: dict[str, Any]) -> str | None:
        """The session id of the request (from the session cookie), or None."""
        auth = self.identify(environ)
        return auth.sid if auth else None

    def identity(self, environ: dict[str, Any]) -> str | None:
        """The signed-in account of the request, or None."""
        auth = self.identify(environ)
        return auth.email if auth else None

    def identify(self, environ: dict[str, Any]) -> Auth | None:
        """The request's Auth (set by the middleware, else worked out now); None if anonymous."""
        if ENVIRON_AUTH in environ:
            auth: Auth | None = environ[ENVIRON_AUTH]
            return auth
        outcome = self._authenticate(environ)
        return outcome.auth

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.test(environ):
            return self.handle(environ, start_response)
        if self.app is None:
            return self._error(start_response, 404, "not_found", "no application behind the kit")
        outcome = self._authenticate(environ)
        path = environ.get("PATH_INFO", "")
        problem = outcome.problem
        extra = self._outcome_headers(outcome)
        if problem is not None:
            exempt = any(path.startswith(p) for p in self.csrf_exempt)
            if problem.status == 409 or (problem.code == "csrf" and not exempt) or (
                problem.status == 401 and _header(environ, "X-Auth") is not None
            ):
                return self._error(start_response, problem.status, problem.code, problem.message,
                                   extra)
        environ[ENVIRON_AUTH] = outcome.auth

        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, list(headers) + extra, exc_info)

        return self.app(environ, wrapped)

    def authenticate(self, environ: dict[str, Any]) -> Auth | None:
        """authen's ``auth``: the Auth, None if anonymous, or AuthProblem."""
        outcome = self._authenticate(environ)
        if outcome.problem is not None:
            raise outcome.problem
        return outcome.auth

    # ------------------------------------------------------------------ sessions

    def _authenticate(self, environ: dict[str, Any]) -> _Outcome:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        cookie = _cookie_value(environ.get("HTTP_COOKIE", ""), self.session_cookie)
        header = _header(environ, "X-Auth")
        expected = _header(environ, "X-Auth-Expected")
        outcome = _Outcome(via_cookie=cookie is not None)
        try:
            if header is not None:
                data, via_cookie = self._from_header(header, cookie, expected)
                outcome.via_cookie = via_cookie
                protected = True
            elif cookie:
                data = self._verify_session(self.tokens, cookie, expected)
                protected = False
            else:
                return outcome
        except AuthProblem as problem:
            outcome.problem = problem
            # A dead cookie goes; a bad X-Auth or a 409 (another tab signed in as
            # someone else) is no reason to drop a good one.
            outcome.clear_cookies = cookie is not None and problem.status == 401 and (
                header is None or not self._cookie_alive(cookie)
            )
            return outcome
        assert data.twin is not None
        if not protected and method in STATE_CHANGING:
            outcome.problem = AuthProblem(
                403, "csrf",
                "a state-changing request needs the session's twin token in X-Auth",
            )
            return outcome
        outcome.auth = Auth(data.identity, data.twin, data.issued, protected)
        if self.tokens.needs_renewal(data):
            outcome.renewal = (
                self.tokens.renew(data),
                self.limited.issue(data.identity, renewal=True, twin=data.twin),
            )
        return outcome

    def _cookie_alive(self, cookie: str) -> bool:
        try:
            self._verify_session(self.tokens, cookie, None)
        except AuthProblem:
            return False
        return True

    def _verify_session(self, tokener: Tokener, token: str, expected: str | None) -> TokenData:
        try:
            data = tokener.verify(token, expected_identity=expected)
        except UnexpectedIdentity as e:
            raise AuthProblem(409, e.code, "signed in as another account than expected") from None
        except TokenError as e:
            raise AuthProblem(401, e.code, str(e)) from None
        if data.twin is None:
            raise AuthProblem(401, "malformed_token", "not a site session token")
        if self.store.is_ended(data.twin, self.clock()):
            raise AuthProblem(401, "session_ended", "the session was signed out")
        return data

    def _from_header(
        self, header: str, cookie: str | None, expected: str | None
    ) -> tuple[TokenData, bool]:
        """X-Auth holds a full auth token (no cookie needed) or the limited twin of the cookie's."""
        try:
            return self._verify_session(self.tokens, header, expected), False
        except AuthProblem as problem:
            if problem.code != BadSignature.code:
                raise
        try:
            twin = self.limited.verify(header)
        except TokenError as e:
            raise AuthProblem(401, e.code, f"X-Auth: {e}") from None
        if not cookie:
            raise AuthProblem(401, "limited_token_alone",
                              "the limited token only works with its session cookie")
        data = self._verify_session(self.tokens, cookie, expected)
        if twin.twin != data.twin or twin.identity != data.identity:
            raise AuthProblem(401, "twin_mismatch", "X-Auth is not the twin of this session")
        return data, True

    def _cookie(self, name: str, value: str, max_age: float, *, http_only: bool) -> str:
        parts = [f"{name}={value}", f"Path={self.cookie_path}", f"Max-Age={int(max_age)}",
                 f"SameSite={self.same_site}"]
        if max_age <= 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if http_only:
            parts.append("HttpOnly")
        if self.secure_cookies or self.same_site == "None":
            parts.append("Secure")
        return "; ".join(parts)

    def _session_cookies(self, auth: IssuedToken, limited: IssuedToken) -> list[tuple[str, str]]:
        return [
            ("Set-Cookie", self._cookie(self.session_cookie, auth.token, auth.max_age,
                                        http_only=True)),
            ("Set-Cookie", self._cookie(self.twin_cookie, limited.token, limited.max_age,
                                        http_only=False)),
        ]

    def clear_cookies(self) -> list[tuple[str, str]]:
        """Headers that delete both session cookies."""
        return [
            ("Set-Cookie", self._cookie(self.session_cookie, "", 0, http_only=True)),
            ("Set-Cookie", self._cookie(self.twin_cookie, "", 0, http_only=False)),
        ]

    def _outcome_headers(self, outcome: _Outcome) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        if outcome.clear_cookies:
            headers += self.clear_cookies()
        if outcome.renewal is not None:
            auth_token, limited = outcome.renewal
            if outcome.via_cookie:
                headers += self._session_cookies(auth_token, limited)
                headers += list(self.tokens.renewal_headers(limited).items())
            else:
                headers += list(self.tokens.renewal_headers(auth_token).items())
        return headers

    def login(self, email: str, *, issuer: str = "password") -> tuple[str, dict[str, Any],
                                                                     list[tuple[str, str]]]:
        """Start a session for ``email``: (sid, body for the client, Set-Cookie headers).

        For apps with their own login views: send the headers with the response.
        """
        if not _email_ok(email):
            raise ValueError("an account id is a non-empty string of at most 254 characters "
                             "without control characters")
        sid = secrets.token_urlsafe(18)
        auth_token = self.tokens.issue(email, twin=sid)
        limited = self.limited.issue(email, twin=sid)
        identity = Identity(email, self.audience, auth_token.issued + auth_token.max_age, issuer)
        self._fire_create(sid, identity)
        body = {
            "email": email, "token": limited.token, "issued": limited.issued,
            "maxAge": limited.max_age, "isLimited": True,
        }
        return sid, body, self._session_cookies(auth_token, limited)

    def end_session(self, sid: str) -> None:
        """Sign a session out on the server: its tokens stop working, ``on_destroy`` fires."""
        self.store.end_session(
            sid, self.clock() + self.tokens.max_age + self.tokens.clock_deviation
        )
        self._fire_destroy(sid)

    def revoke(self, email: str) -> None:
        """Every token of ``email`` issued until now is dead (authen's last revocation time)."""
        self.store.revoke(email, self.clock())

    def rotate_keys(self) -> str:
        """Sign new tokens with a new key; tokens signed before keep working. Returns the kid."""
        return self.keys.rotate(self.clock()).kid

    def retire_key(self, kid: str) -> None:
        """Tokens signed with ``kid`` stop working."""
        self.keys.retire(kid)

    # ------------------------------------------------------------------ persistent login

    def new_nonce(self) -> tuple[str, float]:
        """A single-use nonce for one silent login, and when it expires."""
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        now = self.clock()
        expires = now + self.nonce_ttl
        self.store.add_nonce(nonce, expires, now)
        return nonce, expires

    def register_key(self, email: str, public_key: str) -> None:
        """Remember an account's persistent-login public key (b64url raw Ed25519)."""
        if not _public_key_ok(public_key):
            raise ValueError("publicKey is not a base64url Ed25519 public key")
        self.store.register_key(email, public_key, self.clock())

    def verify_silent(self, assertion: object) -> Identity:
        """Check a silent-login assertion with the account's registered keys; LoginRefused if bad.

        The nonce in it must be one this kit issued, unexpired and unused; it is
        used up only by an assertion that verifies, so garbage cannot burn it.
        """
        try:
            claims = assertions.read_unverified(assertion)  # type: ignore[arg-type]
        except assertions.AssertionInvalid as e:
            raise LoginRefused(e.reason, "the assertion is not well formed") from None
        account, nonce = claims["sub"], claims["nonce"]
        if not isinstance(nonce, str):
            raise LoginRefused("nonce_missing", "the assertion carries no nonce")
        keys = self.store.keys_for(account)
        if not keys:
            raise LoginRefused("unknown_key", "no persistent-login key is registered")
        now = self.clock()
        verified = None
        reason = "bad_signature"
        for key in keys:
            try:
                verified = assertions.verify_assertion(
                    assertion,  # type: ignore[arg-type]
                    audience=self.site, public_key=key, now=now, nonce=nonce,
                    clock_deviation=self.tokens.clock_deviation,
                )
                break
            except assertions.AssertionInvalid as e:
                reason = e.reason
                if reason != "bad_signature":
                    break  # the right key, a wrong claim: no other key will do better
            except ValueError:
                log.warning("a registered public key is unreadable; skipped")
        if verified is None:
            raise LoginRefused(reason, "the assertion did not verify")
        if not self.store.take_nonce(nonce, now):
            raise LoginRefused("nonce_unknown_or_used",
                               "the assertion's nonce was not issued here, expired or was used")
        return Identity(verified.email, self.audience,
                        now + self.tokens.max_age, verified.issuer)

    # ------------------------------------------------------------------ the kit's routes

    def handle(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer a request ``test`` accepted: login, logout, keys, nonce, sessions.js."""
        path = environ.get("PATH_INFO", "")[len(self.prefix) + 1:]
        method = environ.get("REQUEST_METHOD", "GET").upper()
        routes: dict[str, tuple[str, Callable[..., Iterable[bytes]]]] = {
            "/sessions.js": ("GET", self._serve_shim),
            "/login": ("POST", self._route_login),
            "/logout": ("POST", self._route_logout),
            "/keys": ("POST", self._route_keys),
            "/nonce": ("POST", self._route_nonce),
        }
        if path not in routes:
            return self._error(start_response, 404, "not_found", "no such session route")
        want, handler = routes[path]
        if method != want and not (want == "GET" and method == "HEAD"):
            return self._error(start_response, 405, "method_not_allowed", f"use {want}",
                               [("Allow", want)])
        try:
            return handler(environ, start_response)
        except AuthProblem as problem:
            return self._error(start_response, problem.status, problem.code, problem.message)

    def _read_json(self, environ: dict[str, Any]) -> dict[str, Any]:
        ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            # A cross-site form cannot send JSON without a CORS preflight: no login CSRF.
            raise AuthProblem(415, "unsupported_media_type", "send application/json")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise AuthProblem(400, "bad_request", "bad Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise AuthProblem(413, "too_large", f"at most {MAX_BODY} bytes")
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise AuthProblem(400, "bad_json", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise AuthProblem(400, "bad_json", "the body must be a JSON object")
        return body

    def _route_login(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        body = self._read_json(environ)
        if "assertion" in body:
            identity = self.verify_silent(body["assertion"])
            email, issuer = identity.email, identity.issuer
        else:
            claimed, password = body.get("email"), body.get("password")
            if self.check_password is None:
                raise AuthProblem(400, "password_login_disabled", "this site has no passwords")
            if not _email_ok(claimed) or not isinstance(password, str) or not password:
                raise AuthProblem(400, "bad_request", "send email and password, or assertion")
            assert isinstance(claimed, str)
            email = claimed
            if not self.check_password(email, password):
                raise LoginRefused("bad_credentials", "wrong account or password")
            issuer = "password"
        # A login replaces whatever session the browser had (no session fixation).
        previous = self._authenticate({**environ, "REQUEST_METHOD": "GET", "HTTP_X_AUTH": ""})
        if previous.auth is not None:
            self.end_session(previous.auth.sid)
        _sid, answer, cookies = self.login(email, issuer=issuer)
        return self._json(start, 200, answer, cookies)

    def _route_logout(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        self._read_json(environ)
        outcome = self._authenticate(environ)
        if outcome.problem is not None and outcome.problem.code == "csrf":
            raise outcome.problem
        if outcome.auth is not None:
            self.end_session(outcome.auth.sid)
        status = "signed_out" if outcome.auth is not None else "anonymous"
        return self._json(start, 200, {"status": status}, self.clear_cookies())

    def _route_keys(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        body = self._read_json(environ)
        auth = self.authenticate(environ)
        if auth is None:
            raise AuthProblem(401, "not_signed_in", "sign in before registering a key")
        if not auth.protected:  # pragma: no cover - authenticate() already refused it
            raise AuthProblem(403, "csrf", "X-Auth needed")
        try:
            self.register_key(auth.email, body.get("publicKey"))  # type: ignore[arg-type]
        except ValueError as e:
            raise AuthProblem(400, "bad_public_key", str(e)) from None
        return self._json(start, 201, {"status": "registered", "email": auth.email})

    def _route_nonce(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        try:
            nonce, expires = self.new_nonce()
        except StoreFull:
            return self._error(start, 503, "busy", "too many silent logins at once",
                               [("Retry-After", "5")])
        return self._json(start, 200, {"nonce": nonce, "expires": expires,
                                       "audience": self.site})

    # ------------------------------------------------------------------ the browser shim

    def _shim_source(self) -> str:
        with self._shim_lock:
            if self._shim is None:
                self._shim = (resources.files("sessionmgr.site") / "sessions.js").read_text(
                    encoding="utf-8")
            return self._shim

    def shim(self, environ: dict[str, Any]) -> str:
        """sessions.js for this request, with the kit's settings and the current identity."""
        auth = self.identify(environ)
        config = {
            "base": self._base(environ),
            "sessionCookie": self.session_cookie,
            "twinCookie": self.twin_cookie,
            "loginUrl": self.login_url,
            "identity": auth.email if auth else None,
            "autoSilent": self.auto_silent,
        }
        # "<" escaped: the JSON lives inside a script and must never close it.
        literal = json.dumps(config, separators=(",", ":")).replace("<", "\\u003c")
        return self._shim_source().replace("/*CONFIG*/null", literal, 1)

    def _serve_shim(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        data = self.shim(environ).encode("utf-8")
        start("200 OK", [
            ("Content-Type", _JS_CONTENT), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
        ])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else data]

    # ------------------------------------------------------------------ responses

    @staticmethod
    def _json(start: StartResponse, status: int, body: Any,
              headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        start(f"{status} {_REASONS.get(status, 'Status')}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"), *(headers or []),
        ])
        return [data]

    def _error(self, start: StartResponse, status: int, code: str, message: str,
               headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
        return self._json(start, status, {"error": {"code": code, "message": message}}, headers)


_REASONS: Final = {
    200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
    415: "Unsupported Media Type", 503: "Service Unavailable",
}


def _header(environ: dict[str, Any], name: str) -> str | None:
    value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    return value if value else None
