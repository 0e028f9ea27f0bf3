"""The v1 routes: who may call each one and what it does.

Routes only translate HTTP to calls on the service and the registry; the rules
live there. ``Who`` is checked before a body is read.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from sessionmgr import __version__
from sessionmgr.api.guards import ApiError, parse_json_object
from sessionmgr.core.model import Declaration, parse_declaration, parse_identifier
from sessionmgr.core.sitekey import normalize_site
from sessionmgr.errors import Forbidden, InvalidInput, NotFound
from sessionmgr.security.registry import Principal

Who = Literal["anyone", "helper", "owner", "poll"]


class Request:
    """One request as the routes see it. The server fills ``principal``, ``body`` and
    ``raw`` (the body as sent, for routes that parse it themselves) once its guards
    have passed. Plain slotted classes, this and :class:`Response`: one of each is
    made per request, and a dataclass costs more to define than the pair do to run."""

    __slots__ = ("body", "headers", "method", "params", "path", "principal", "query", "raw")

    def __init__(self, method: str, path: str, params: dict[str, str],
                 query: dict[str, list[str]], headers: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.query = query
        self.headers = headers
        self.body: dict[str, Any] = {}
        self.principal: Principal | None = None
        self.raw = b""


class Response:
    """A route's answer; ``encoded`` is the body already as JSON bytes."""

    __slots__ = ("body", "encoded", "headers", "status")

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                 encoded: bytes | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = {} if headers is None else headers
        self.encoded = encoded


Handler = Callable[[Any, Request], Response]


class Route(NamedTuple):
    method: str
    segments: tuple[str, ...]  # the template split at "/": "{name}" takes one segment
    who: Who
    handler: Handler
    name: str
    raw_body: bool = False  # the handler parses ``request.raw`` itself


_ROUTES: list[Route] = []


def route(
    method: str, template: str, who: Who, *, raw_body: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append(Route(method, tuple(template.split("/")), who, handler, template, raw_body))
        return handler

    return register


def _params(segments: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    """The template's "{name}" segments taken from ``parts`` (none empty), or None
    when the path is not this template's."""
    params: dict[str, str] = {}
    for want, got in zip(segments, parts, strict=True):
        if want[:1] == "{":
            if not got:
                return None
            params[want[1:-1]] = got
        elif want != got:
            return None
    return params


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for (method, path), or 404/405."""
    parts = path.split("/")
    allowed: list[str] = []
    for candidate in _ROUTES:
        if len(candidate.segments) != len(parts):
            continue
        found = _params(candidate.segments, parts)
        if found is not None:
            if candidate.method == method:
                params = {k: urllib.parse.unquote(v, errors="strict") for k, v in found.items()}
                return candidate, params
            allowed.append(candidate.method)
    if allowed:
        methods = ", ".join(sorted(set(allowed)))
        raise ApiError(
            405,
            "method_not_allowed",
            f"{method[:20]} is not allowed on {path[:200]}; use {methods}",
            headers={"Allow": methods},
        )
    raise ApiError(404, "not_found", f"there is no endpoint {path[:200]}")


def _site(request: Request) -> str:
    return normalize_site(request.params["site"])


def _bool(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(name, "must be true or false")
    return value


def _optional_str(body: dict[str, Any], name: str, *, limit: int = 1024) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(
            name, f"must be a non-empty string of at most {limit} characters, or null"
        )
    return value


# -- anyone ---------------------------------------------------------------------


@route("GET", "/v1/health", "anyone")
def health(api: Any, request: Request) -> Response:
    return Response(200, {"status": "ok", "version": __version__})


@route("GET", "/v1/openapi.json", "anyone")
def openapi(api: Any, request: Request) -> Response:
    return Response(200, api.openapi_document())


@route("POST", "/v1/pairings", "anyone")
def request_pairing(api: Any, request: Request) -> Response:
    return Response(202, api.registry.request_pairing(request.body))


@route("GET", "/v1/pairings/{pairing_id}", "poll")
def poll_pairing(api: Any, request: Request) -> Response:
    return Response(
        200,
        api.registry.poll_pairing(
            request.params["pairing_id"], request.headers.get("authorization")
        ),
    )


# -- helpers and the owner ----------------------------------------------------------


_DECLARATIONS: dict[bytes, Declaration] = {}
_DECLARATIONS_KEPT = 512


def _declaration(raw: bytes) -> Declaration:
    """Parse a declaration body, remembering recent ones: pages redeclare the same bytes."""
    declaration = _DECLARATIONS.get(raw)
    if declaration is None:
        declaration = parse_declaration(parse_json_object(raw))
        if len(_DECLARATIONS) >= _DECLARATIONS_KEPT:
            _DECLARATIONS.clear()
        _DECLARATIONS[raw] = declaration
    return declaration


@route("PUT", "/v1/sites/{site}/declaration", "helper", raw_body=True)
def declare(api: Any, request: Request) -> Response:
    assert request.principal is not None
    encoded = api.service.declare_encoded(
        request.params["site"], _declaration(request.raw), helper_id=request.principal.helper_id
    )
    return Response(200, encoded=encoded)


@route("PUT", "/v1/focus", "helper")
def focus(api: Any, request: Request) -> Response:
    if "site" not in request.body:
        raise InvalidInput("site", "is required: the host of the active tab, or null")
    site = request.body["site"]
    if site is not None and not isinstance(site, str):
        raise InvalidInput("site", "must be a host name or null")
    return Response(200, {"site": api.service.focus(site)})


@route("GET", "/v1/sites", "helper")
def list_sites(api: Any, request: Request) -> Response:
    return Response(200, encoded=api.service.list_sites_encoded())


@route("GET", "/v1/sites/{site}", "helper")
def get_site(api: Any, request: Request) -> Response:
    encoded = api.service.get_site_encoded(request.params["site"])
    if encoded is None:
        raise NotFound(f"sessionmgr has never seen the site {_site(request)}", code="unknown_site")
    return Response(200, encoded=encoded)


@route("POST", "/v1/sites/{site}/silent-login", "helper")
def silent_login(api: Any, request: Request) -> Response:
    nonce = _optional_str(request.body, "nonce", limit=256)
    return Response(200, api.silent_login(_site(request), nonce))


@route("POST", "/v1/verify", "helper")
def verify(api: Any, request: Request) -> Response:
    assertion = request.body.get("assertion")
    audience = request.body.get("audience")
    if not isinstance(assertion, str) or not assertion:
        raise InvalidInput("assertion", "must be the assertion string to check")
    if not isinstance(audience, str) or not audience:
        raise InvalidInput("audience", "must be the site the assertion is meant for")
    return Response(200, api.verify_assertion(assertion, audience))


@route("PATCH", "/v1/helpers/{helper_id}", "helper")
def update_helper(api: Any, request: Request) -> Response:
    assert request.principal is not None
    return Response(
        200,
        api.registry.update_events_url(
            request.principal, request.params["helper_id"], request.body
        ),
    )


# -- the owner only -----------------------------------------------------------------


@route("GET", "/v1/status", "owner")
def status(api: Any, request: Request) -> Response:
    return Response(200, api.status())


@route("POST", "/v1/ui/open", "owner")
def open_ui(api: Any, request: Request) -> Response:
    """A second ``sessionmgr`` launch asks the running tray app to show itself."""
    api.open_ui()
    return Response(204)


@route("DELETE", "/v1/sites/{site}", "owner")
def forget_site(api: Any, request: Request) -> Response:
    api.service.forget_site(request.params["site"])
    return Response(204)


@route("POST", "/v1/sites/{site}/login", "owner")
def login(api: Any, request: Request) -> Response:
    account = request.body.get("id")
    if account is not None:
        account = parse_identifier(account, "id")
    persistent = _bool(request.body, "persistent")
    return Response(202, {"event": api.service.login(request.params["site"], account, persistent)})


@route("POST", "/v1/sites/{site}/logout", "owner")
def logout(api: Any, request: Request) -> Response:
    return Response(202, {"event": api.service.logout(request.params["site"])})


@route("DELETE", "/v1/sites/{site}/persistent", "owner")
def cancel_persistent(api: Any, request: Request) -> Response:
    api.service.cancel_persistent(request.params["site"])
    return Response(204)


@route("POST", "/v1/logout-all", "owner")
def logout_all(api: Any, request: Request) -> Response:
    return Response(202, {"events": api.service.logout_all()})


@route("GET", "/v1/pairings", "owner")
def list_pairings(api: Any, request: Request) -> Response:
    return Response(200, {"pairings": api.registry.list_pairings()})


@route("POST", "/v1/pairings/{pairing_id}/approve", "owner")
def approve_pairing(api: Any, request: Request) -> Response:
    return Response(200, api.registry.approve(request.params["pairing_id"]))


@route("POST", "/v1/pairings/{pairing_id}/reject", "owner")
def reject_pairing(api: Any, request: Request) -> Response:
    return Response(200, api.registry.reject(request.params["pairing_id"]))


@route("GET", "/v1/helpers", "owner")
def list_helpers(api: Any, request: Request) -> Response:
    return Response(200, {"helpers": api.registry.list_helpers()})


@route("DELETE", "/v1/helpers/{helper_id}", "owner")
def revoke_helper(api: Any, request: Request) -> Response:
    api.registry.revoke(request.params["helper_id"])
    return Response(204)


@route("GET", "/v1/events", "owner")
def list_events(api: Any, request: Request) -> Response:
    unknown = set(request.query) - {"site", "limit"}
    if unknown:
        raise InvalidInput("query", f"unknown parameter {sorted(unknown)[0]!r}; use site and limit")
    sites = request.query.get("site", [])
    limits = request.query.get("limit", [])
    if len(sites) > 1 or len(limits) > 1:
        raise InvalidInput("query", "site and limit may each be given once")
    site = normalize_site(sites[0], field="site") if sites else None
    limit = 100
    if limits:
        raw = limits[0]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= 1000):
            raise InvalidInput("limit", "must be a whole number from 1 to 1000")
        limit = int(raw)
    return Response(200, {"events": api.service.list_events(site, limit)})


def authorize(route_: Route, principal: Principal | None) -> None:
    """Helper tokens reach helper endpoints only."""
    if route_.who == "owner" and (principal is None or principal.kind != "owner"):
        raise Forbidden(
            "this endpoint is for the owner only, not for browser helpers", code="owner_only"
        )


def all_routes() -> list[Route]:
    return list(_ROUTES)
