"""Generate sessionmgr/api/openapi.json: the OpenAPI 3.1 document of the v1 API.

The document is written by hand here, as Python data, so shared pieces (the
error responses every guard can give, the identifier rules) are written once.
Its output is checked in; ``tests/integration/test_openapi_conformance.py``
asserts that the served document equals the file, that it lists exactly the
routes of ``sessionmgr.api.routes``, and runs schemathesis against a real
daemon with it.

    python scripts/openapi.py          # rewrite sessionmgr/api/openapi.json
    python scripts/openapi.py --check  # exit 1 when the file is out of date

The limits below are imported from the modules that enforce them, so a change
there shows up here (and in ``--check``) instead of silently drifting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sessionmgr.api.guards import MAX_BODY  # noqa: E402
from sessionmgr.core.model import (  # noqa: E402
    MAX_COOKIE_NAME_LENGTH,
    MAX_COOKIES,
    MAX_ID_LENGTH,
    MAX_SESSIONS,
)
from sessionmgr.security.registry import MAX_PENDING_PAIRINGS, PAIRING_TTL  # noqa: E402

OUTPUT = ROOT / "sessionmgr" / "api" / "openapi.json"

JSON = "application/json"
NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, schema]}


def obj(
    properties: dict[str, Any],
    required: list[str] | None = None,
    *,
    closed: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    """A response object: every listed property is always present unless said otherwise."""
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = properties
    schema["required"] = list(properties) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


def identifier(limit: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": limit,
        "pattern": NO_CONTROL,
        "description": description,
    }


# -- schemas ------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {
                        "type": "string",
                        "pattern": "^[a-z0-9]+(_[a-z0-9]+)*$",
                        "description": "A stable snake_case code, e.g. invalid_input.",
                    },
                    "message": {
                        "type": "string",
                        "description": "What was wrong and where (the field, e.g."
                        " sessions[1].email). Never contains a token.",
                    },
                }
            )
        },
        description="Every error response has this body.",
    ),
    "Identifier": identifier(
        MAX_ID_LENGTH,
        f"An account identifier (not necessarily an e-mail address): 1 to {MAX_ID_LENGTH}"
        " characters, no control characters (Unicode category Cc: C0, DEL, C1).",
    ),
    "CookieName": identifier(
        MAX_COOKIE_NAME_LENGTH,
        f"A cookie name: 1 to {MAX_COOKIE_NAME_LENGTH} characters, no control characters.",
    ),
    "SiteKey": {
        "type": "string",
        "description": "The canonical site key: a lower-case host name, punycode for"
        " non-ASCII labels, no trailing dot, no port; or localhost or an IPv4 literal.",
    },
    "Status": {"type": "string", "enum": ["active", "passive"]},
    # -- a declaration, as a helper sends it --
    "BindingInput": {
        "type": "object",
        "description": 'A cookie binding (R5). "name" is accepted as an alias of'
        ' "cookie_name" (the original add-on used it); "cookie_name" wins when both'
        " are given. Unknown members are ignored.",
        "properties": {
            "type": {"const": "cookie", "description": "The only binding type."},
            "cookie_name": ref("CookieName"),
            "name": ref("CookieName"),
        },
        "required": ["type"],
        "anyOf": [{"required": ["cookie_name"]}, {"required": ["name"]}],
    },
    "SessionInput": {
        "type": "object",
        "description": "One entry of navigator.id.sessions. Unknown members are ignored.",
        "properties": {
            "email": ref("Identifier"),
            "status": {
                "allOf": [ref("Status")],
                "default": "active",
                "description": "Several active entries: the first is active, the rest"
                " count as passive (R3).",
            },
            "bound_to": nullable(ref("BindingInput")),
        },
        "required": ["email"],
    },
    "Declaration": {
        "type": "object",
        "description": "What a page declared, and the site's cookies. Unknown members are"
        " ignored. An entry repeating an earlier email is dropped (the first wins).",
        "properties": {
            "sessions": {
                "oneOf": [
                    {"type": "null"},
                    {"type": "array", "maxItems": MAX_SESSIONS, "items": ref("SessionInput")},
                ],
                "description": "null: the page did not declare (the site's cookie binding"
                " decides, R5); []: supported, nobody signed in, clears the binding (R6);"
                " otherwise the session list (R1).",
            },
            "cookies": {
                "type": "array",
                "maxItems": MAX_COOKIES,
                "items": ref("CookieName"),
                "default": [],
                "description": "Names of the cookies present for the site.",
            },
            "focused": {
                "type": "boolean",
                "default": False,
                "description": "The site is in the focused tab.",
            },
            "api": {
                "type": "string",
                "enum": ["sessions", "login-status"],
                "default": "sessions",
                "description": "Which page API the declaration came from.",
            },
        },
        "required": ["sessions"],
    },
    # -- site state --
    "Binding": obj(
        {"type": {"const": "cookie"}, "cookie_name": ref("CookieName")},
    ),
    "Session": obj(
        {
            "email": ref("Identifier"),
            "status": {
                "allOf": [ref("Status")],
                "description": "The effective status, after R3.",
            },
            "bound_to": nullable(ref("Binding")),
        }
    ),
    "Persistent": obj(
        {
            "id": ref("Identifier"),
            "expires": {"type": "number", "description": "Unix seconds."},
        },
        description="A stay-signed-in login (R11) that has not expired.",
    ),
    "Attention": obj(
        {
            "code": {"type": "string", "enum": ["no_response", "undelivered", "helper_gone"]},
            "message": {"type": "string"},
            "event_id": {"type": "string", "format": "uuid"},
        },
        description="Something the user should be told about the site's last action.",
    ),
    "SiteState": obj(
        {
            "site": ref("SiteKey"),
            "supported": {"type": "boolean", "description": "The site uses the API now."},
            "indicator": {
                "anyOf": [{"type": "null"}, {"const": "login"}, ref("Identifier")],
                "description": 'R4: null when not supported, "login" when nobody is'
                " active, else the active identifier.",
            },
            "active": nullable(ref("Identifier")),
            "sessions": {"type": "array", "items": ref("Session")},
            "binding": nullable(ref("Binding")),
            "source": {"type": "string", "enum": ["declared", "binding", "none"]},
            "pending": {
                "oneOf": [{"type": "null"}, ref("Event")],
                "description": "The user action waiting for the site to redeclare (R10).",
            },
            "persistent": nullable(ref("Persistent")),
            "updated_at": {"type": "number", "description": "Unix seconds."},
            "focused": {"type": "boolean", "description": "The last focused site."},
            "api": {"type": "string", "enum": ["sessions", "login-status"]},
            "attention": nullable(ref("Attention")),
        }
    ),
    "SiteList": obj({"sites": {"type": "array", "items": ref("SiteState")}}),
}

_EVENT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "format": "uuid"},
    "type": {"type": "string", "enum": ["login", "logout"]},
    "site": ref("SiteKey"),
    "account": {
        **nullable(ref("Identifier")),
        "description": 'The account to log in ("log in" with no account: null) or out.',
    },
    "previous": {
        **nullable(ref("Identifier")),
        "description": "The account a login switches away from; null for logouts.",
    },
    "persistent": {"type": "boolean", "description": "Stay signed in."},
    "created_at": {"type": "number", "description": "Unix seconds."},
    "outcome": {
        "type": "string",
        "enum": ["pending", "confirmed", "no_response", "superseded"],
        "description": "What became of the action (not part of the webhook body).",
    },
}

SCHEMAS.update(
    {
        "Event": obj(_EVENT_PROPERTIES, description="A login or logout the user asked for."),
        "Delivery": obj(
            {
                "helper_id": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer", "minimum": 0},
                "last_error": {"type": ["string", "null"]},
            }
        ),
        "EventWithDeliveries": obj(
            {
                **_EVENT_PROPERTIES,
                "deliveries": {"type": "array", "items": ref("Delivery")},
            },
            description="An event with its webhook deliveries, one per helper.",
        ),
        "EventAnswer": obj({"event": ref("Event")}),
        "EventsAnswer": obj({"events": {"type": "array", "items": ref("Event")}}),
        "EventList": obj(
            {"events": {"type": "array", "items": ref("EventWithDeliveries")}},
            description="Newest first.",
        ),
        "EventsUrl": {
            "type": "string",
            "maxLength": 2048,
            "pattern": "^http://(127\\.0\\.0\\.1|localhost):[1-9][0-9]{0,4}([/?][^#]*)?$",
            "description": "Where the helper receives events (POSTed, signed): http on"
            " 127.0.0.1 or localhost with an explicit port, no user info, no fragment.",
        },
        "Health": obj({"status": {"const": "ok"}, "version": {"type": "string"}}),
        "DaemonStatus": obj(
            {
                "version": {"type": "string"},
                "pid": {"type": "integer"},
                "url": {"type": "string"},
                "started_at": {"type": "number"},
                "secrets": {
                    "type": "string",
                    "description": 'Where secrets are kept, e.g. "file (no OS keyring)".',
                },
                "database": {"type": "string"},
                "sites": {"type": "integer", "minimum": 0},
                "signed_in": {"type": "integer", "minimum": 0},
                "helpers": {"type": "integer", "minimum": 0},
                "pending_pairings": {"type": "integer", "minimum": 0},
                "undelivered": {"type": "integer", "minimum": 0},
            }
        ),
        "FocusRequest": {
            "type": "object",
            "description": "Unknown members are ignored.",
            "properties": {
                "site": {
                    "type": ["string", "null"],
                    "description": "The active tab's host (normalised like a site key),"
                    " or null when no site has focus.",
                }
            },
            "required": ["site"],
        },
        "Focus": obj({"site": {"anyOf": [{"type": "null"}, ref("SiteKey")]}}),
        "EmptyObject": {
            "type": "object",
            "description": "No members are needed; any members are ignored.",
        },
        "LoginRequest": {
            "type": "object",
            "description": "Unknown members are ignored. An empty body means {}.",
            "properties": {
                "id": {
                    **nullable(ref("Identifier")),
                    "description": "The account to log in as (one the site declared), or"
                    " null for the site's own login.",
                },
                "persistent": {
                    "type": "boolean",
                    "default": False,
                    "description": "Stay signed in (R11).",
                },
            },
        },
        "SilentLoginRequest": {
            "type": "object",
            "description": "Unknown members are ignored. An empty body means {}.",
            "properties": {
                "nonce": {
                    "oneOf": [
                        {"type": "null"},
                        {"type": "string", "minLength": 1, "maxLength": 256},
                    ],
                    "description": "Copied into the assertion's claims.",
                }
            },
        },
        "SilentLogin": obj(
            {
                "id": nullable(ref("Identifier")),
                "assertion": {
                    "type": ["string", "null"],
                    "description": "A signed assertion for the remembered account, or null"
                    " when there is no stay-signed-in login for the site.",
                },
            }
        ),
        "VerifyRequest": {
            "type": "object",
            "properties": {
                "assertion": {"type": "string", "minLength": 1},
                "audience": {"type": "string", "minLength": 1},
            },
            "required": ["assertion", "audience"],
        },
        "VerifyResult": {
            "description": "The Persona verifier answer.",
            "oneOf": [
                obj(
                    {
                        "status": {"const": "okay"},
                        "email": ref("Identifier"),
                        "audience": ref("SiteKey"),
                        "expires": {"type": "number", "description": "Unix seconds."},
                        "issuer": {"type": "string"},
                    }
                ),
                obj({"status": {"const": "failure"}, "reason": {"type": "string"}}),
            ],
        },
        "PairingRequest": {
            "type": "object",
            "description": "Unknown members are ignored.",
            "properties": {
                "name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100,
                    "pattern": "\\S",
                    "description": "The helper's name as the user will see it: printable,"
                    " not only spaces, at most 100 characters.",
                },
                "events_url": ref("EventsUrl"),
                "origin": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "string",
                            "pattern": "^(chrome-extension|moz-extension)://[A-Za-z0-9._-]{1,128}$",
                        },
                    ],
                    "description": "The helper's extension origin; once approved, requests"
                    " with this Origin header are let through.",
                },
            },
            "required": ["name", "events_url"],
        },
        "PairingCreated": obj(
            {
                "id": {"type": "string", "format": "uuid"},
                "code": {
                    "type": "string",
                    "pattern": "^[0-9]{3}-[0-9]{3}$",
                    "description": "Shown on both sides so the user can compare them.",
                },
                "poll_secret": {
                    "type": "string",
                    "description": "Send as Authorization: Bearer to poll this request.",
                },
            }
        ),
        "PairingPoll": obj(
            {
                "status": {
                    "type": "string",
                    "enum": ["pending", "approved", "rejected", "expired"],
                },
                "helper_id": {"type": "string"},
                "token": {
                    "type": "string",
                    "description": "The helper's API token; given out once, on the first"
                    " poll after approval.",
                },
                "webhook_secret": {
                    "type": "string",
                    "pattern": "^whsec_",
                    "description": "The Standard Webhooks secret events are signed with;"
                    " given out once, with the token.",
                },
            },
            required=["status"],
        ),
        "Pairing": obj(
            {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "origin": {"type": ["string", "null"]},
                "code": {"type": "string"},
                "status": {
                    "type": "string",
                    "enum": ["pending", "approved", "rejected", "expired"],
                },
                "expires_at": {"type": "number", "description": "Unix seconds."},
            }
        ),
        "PairingList": obj(
            {
                "pairings": {
                    "type": "array",
                    "items": ref("Pairing"),
                    "description": "Pending requests first.",
                }
            }
        ),
        "PairingDecision": obj(
            {
                "id": {"type": "string", "format": "uuid"},
                "status": {"type": "string", "enum": ["approved", "rejected"]},
                "helper_id": {"type": "string", "description": "Present when approved."},
            },
            required=["id", "status"],
        ),
        "Helper": obj(
            {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "origin": {"type": ["string", "null"]},
                "events_url": {"type": "string"},
                "code": {"type": "string"},
                "status": {"type": "string", "enum": ["active", "revoked", "gone"]},
                "status_reason": {"type": ["string", "null"]},
                "created_at": {"type": "number"},
                "last_seen": {"type": ["number", "null"]},
            }
        ),
        "HelperList": obj({"helpers": {"type": "array", "items": ref("Helper")}}),
        "HelperUpdate": {
            "type": "object",
            "description": "Unknown members are ignored.",
            "properties": {"events_url": ref("EventsUrl")},
            "required": ["events_url"],
        },
        "HelperUpdated": obj({"id": {"type": "string"}, "events_url": {"type": "string"}}),
    }
)

# -- responses every route shares ---------------------------------------------------------


def error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


RESPONSES: dict[str, Any] = {
    "BadRequest": error(
        "Bad request: a malformed request (missing or duplicate Host, a bad Content-Length,"
        " a body on GET or DELETE, a URL that is not UTF-8), malformed JSON, or well-formed"
        " JSON with bad values; the message names the field."
    ),
    "Unauthorized": error(
        "Missing, malformed, forged, expired or revoked token (codes missing_token,"
        " bad_authorization, bad_signature, expired, revoked, token_revoked, ...)."
    ),
    "Forbidden": error(
        "An Origin header that is not the extension origin of a paired helper"
        " (forbidden_origin), or a helper token on an owner-only endpoint (owner_only)."
    ),
    "NotFound": error("Unknown resource, or no endpoint at this path (not_found)."),
    "Conflict": error(
        "The token does not belong to the identity named by X-Auth-Expected"
        " (unexpected_identity); nothing was changed."
    ),
    "LengthRequired": error("Chunked bodies are refused (length_required); send Content-Length."),
    "PayloadTooLarge": error(
        f"Content-Length is over {MAX_BODY} bytes (64 KiB) (body_too_large). Decided from the"
        " header alone: the body is not read and the connection is closed."
    ),
    "URITooLong": error("The request line is longer than 64 KiB."),
    "UnsupportedMediaType": error(
        "A body that is not Content-Type: application/json (unsupported_media_type)."
    ),
    "MisdirectedRequest": error(
        "The Host header is not 127.0.0.1:PORT, localhost:PORT or [::1]:PORT (wrong_host):"
        " DNS rebinding protection."
    ),
    "TooManyRequests": error(
        f"{MAX_PENDING_PAIRINGS} pairing requests are already pending (too_many_pairings)."
    ),
    "HeaderFieldsTooLarge": error("More than 100 header lines, or one longer than 64 KiB."),
    "StorageUnavailable": error(
        "The database is unusable (disk full, read-only, locked, corrupt):"
        " storage_unavailable. Not caused by the request."
    ),
}

RENEWAL_HEADERS: dict[str, Any] = {
    "X-Auth-Renewal": {
        "description": "A renewed token, sent once the presented token is older than the"
        " renewal interval; use it from now on.",
        "schema": {"type": "string"},
    },
    "X-Auth-Renewal-Issued": {
        "description": "When the renewed token was issued (Unix seconds).",
        "schema": {"type": "string"},
    },
    "X-Auth-Renewal-Max-Age": {
        "description": "How long the renewed token is valid (seconds).",
        "schema": {"type": "string"},
    },
}

PARAMETERS: dict[str, Any] = {
    "Site": {
        "name": "site",
        "in": "path",
        "required": True,
        "description": "A host name; normalised (lower case, IDNA, no trailing dot)."
        " A port, scheme, path, spaces or anything else that is not a host name is a 400.",
        "schema": {"type": "string", "minLength": 1},
        "examples": {"site": {"value": "example.com"}},
    },
    "PairingId": {
        "name": "pairing_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "HelperId": {
        "name": "helper_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "AuthExpected": {
        "name": "X-Auth-Expected",
        "in": "header",
        "required": False,
        "description": 'The identity the caller expects its token to carry ("owner" or'
        ' "helper:<id>"); a mismatch is a 409 and changes nothing.',
        "schema": {"type": "string"},
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The owner token (from the 0600 endpoint.json) or a paired helper's"
        " token (from the pairing poll). Signed with HMAC-SHA256 under a server-side key id;"
        " expires after 14 days, renewed through X-Auth-Renewal, revocable. Helper tokens"
        " reach only the endpoints marked for helpers (403 elsewhere).",
    },
    "pollSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "The poll_secret returned by POST /v1/pairings, for polling that"
        " one pairing request.",
    },
}

# -- operations -----------------------------------------------------------------------

BODY_METHODS = {"post", "put", "patch"}
WHO_TEXT = {
    "anyone": "Anyone on this machine (no token).",
    "helper": "A paired helper's token or the owner token.",
    "owner": "The owner token only; a helper token gets 403.",
    "poll": "The pairing request's poll secret.",
}
ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    411: "LengthRequired",
    413: "PayloadTooLarge",
    414: "URITooLong",
    415: "UnsupportedMediaType",
    421: "MisdirectedRequest",
    429: "TooManyRequests",
    431: "HeaderFieldsTooLarge",
    503: "StorageUnavailable",
}
PATH_PARAMETERS = {"site": "Site", "pairing_id": "PairingId", "helper_id": "HelperId"}
UNKNOWN_SITE = "The site was never seen (unknown_site)."
AUTH_CONFLICT = "; or the token is not the identity X-Auth-Expected names (unexpected_identity)."

OPERATIONS: list[tuple[str, str, dict[str, Any]]] = []


def add(
    method: str,
    path: str,
    who: str,
    operation_id: str,
    summary: str,
    success: dict[int, tuple[str, str | None]],
    *,
    description: str = "",
    body: tuple[str, bool] | None = None,
    errors: dict[int, str] | None = None,
    query: list[dict[str, Any]] | None = None,
) -> None:
    """One operation.

    ``success`` maps a status to (description, schema name or None); ``errors`` adds
    statuses or says what a shared one means here. The guards' statuses are added for
    every route, auth statuses for authenticated ones, 415 for methods with a body, and
    404 where a path parameter is (an empty segment names no endpoint).
    """
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": (description + "\n\n" if description else "") + "Who: " + WHO_TEXT[who],
        "tags": [{"anyone": "public", "poll": "pairing"}.get(who, who)],
    }
    params: list[dict[str, Any]] = [
        {"$ref": f"#/components/parameters/{key}"}
        for name, key in PATH_PARAMETERS.items()
        if "{" + name + "}" in path
    ]
    has_path_params = bool(params)
    params.extend(query or [])
    authenticated = who in ("helper", "owner")
    if authenticated:
        params.append({"$ref": "#/components/parameters/AuthExpected"})
    if params:
        op["parameters"] = params
    if who == "poll":
        op["security"] = [{"pollSecret": []}]
    elif authenticated:
        op["security"] = [{"bearerToken": []}]
    else:
        op["security"] = []
    if body is not None:
        schema_name, required = body
        op["requestBody"] = {
            "required": required,
            "content": {JSON: {"schema": ref(schema_name)}},
        }
    responses: dict[str, Any] = {}
    for status, (text, schema_name) in success.items():
        answer: dict[str, Any] = {"description": text}
        if authenticated:
            answer["headers"] = {
                name: {"$ref": f"#/components/headers/{name}"} for name in RENEWAL_HEADERS
            }
        if schema_name is not None:
            answer["content"] = {JSON: {"schema": ref(schema_name)}}
        responses[str(status)] = answer
    statuses = {400, 403, 411, 413, 414, 421, 431, *(errors or {})}
    if method in BODY_METHODS:
        statuses.add(415)
    if authenticated:
        statuses |= {401, 409, 503}
    if who == "poll":
        statuses.add(401)
    if has_path_params:
        statuses.add(404)
    for status in sorted(statuses):
        if errors and status in errors:
            responses[str(status)] = error(errors[status])
        else:
            responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status]}"}
    op["responses"] = responses
    OPERATIONS.append((method, path, op))


# fmt: off
add(
    "get", "/v1/health", "anyone", "health", "Is the daemon up",
    {200: ("Up.", "Health")},
)
add(
    "get", "/v1/openapi.json", "anyone", "openapi", "This document",
    {200: ("The OpenAPI 3.1 document of this API.", "OpenApiDocument")},
)
add(
    "post", "/v1/pairings", "anyone", "requestPairing", "Ask to pair a browser helper",
    {202: ("Waiting for the user; poll GET /v1/pairings/{id} with the poll secret.",
           "PairingCreated")},
    description="The user approves or rejects the request in the app after comparing the"
    f" code. At most {MAX_PENDING_PAIRINGS} requests are pending at once; each expires"
    f" after {PAIRING_TTL:g} seconds.",
    body=("PairingRequest", True),
    errors={
        400: "Malformed request or body, or a bad name, events_url (not http on 127.0.0.1"
        " or localhost with a port) or origin; the message names the field.",
        429: f"{MAX_PENDING_PAIRINGS} pairing requests are already pending"
        " (too_many_pairings).",
    },
)
add(
    "get", "/v1/pairings/{pairing_id}", "poll", "pollPairing", "Poll a pairing request",
    {200: ("The request's status; once approved, the first answer also carries the"
           " helper's token and webhook secret (never again).", "PairingPoll")},
    errors={401: "Unknown pairing request or wrong poll secret (bad_poll_secret)."},
)
add(
    "put", "/v1/sites/{site}/declaration", "helper", "declare",
    "Report what a page declared",
    {200: ("The site's state after the declaration.", "SiteState")},
    description="Applies R1-R7, R10 and R11. A declaration that changes nothing writes"
    " nothing. An invalid declaration is a 400 naming the field and changes nothing.",
    body=("Declaration", True),
)
add(
    "put", "/v1/focus", "helper", "focus", "The browser's active tab moved",
    {200: ("The focused site key, or null.", "Focus")},
    description="Moves the focused site without a redeclaration (which would clear a"
    " pending action). Kept in memory only; the site need not be known.",
    body=("FocusRequest", True),
)
add(
    "get", "/v1/sites", "helper", "listSites", "Every known site",
    {200: ("Sorted by site.", "SiteList")},
)
add(
    "get", "/v1/sites/{site}", "helper", "getSite", "One site's state",
    {200: ("The site's state.", "SiteState")},
    errors={404: UNKNOWN_SITE},
)
add(
    "delete", "/v1/sites/{site}", "owner", "forgetSite", "Forget a site",
    {204: ("Forgotten.", None)},
    errors={404: UNKNOWN_SITE},
)
add(
    "post", "/v1/sites/{site}/login", "owner", "login", "Log in, choose or switch accounts",
    {202: ("The login event; the site shows it as pending until it redeclares.",
           "EventAnswer")},
    description="R8: with no id, the site's own login; with an id, that account (a"
    " switch when another one is active).",
    body=("LoginRequest", False),
    errors={
        404: UNKNOWN_SITE,
        409: "The site does not support the API now (not_supported), the id is not one the"
        " site declared (unknown_account) or is already active (already_active), or no id"
        " was given while someone is signed in (already_signed_in)" + AUTH_CONFLICT,
    },
)
add(
    "post", "/v1/sites/{site}/logout", "owner", "logout", "Log out the active account",
    {202: ("The logout event.", "EventAnswer")},
    body=("EmptyObject", False),
    errors={404: UNKNOWN_SITE, 409: "Nobody is signed in to the site (not_signed_in)"
            + AUTH_CONFLICT},
)
add(
    "delete", "/v1/sites/{site}/persistent", "owner", "cancelPersistent",
    "Undo stay signed in for a site",
    {204: ("Done (also when there was nothing to undo).", None)},
    errors={404: UNKNOWN_SITE},
)
add(
    "post", "/v1/logout-all", "owner", "logoutAll", "Log out of every site",
    {202: ("One logout event per site where someone was signed in.", "EventsAnswer")},
    body=("EmptyObject", False),
)
add(
    "post", "/v1/sites/{site}/silent-login", "helper", "silentLogin",
    "A fresh assertion for a stay-signed-in login, without any UI",
    {200: ("The remembered account and a fresh assertion, or two nulls.", "SilentLogin")},
    description="R11. Assertions are Ed25519-signed per (site, account) and bound to the"
    " site as audience.",
    body=("SilentLoginRequest", False),
)
add(
    "post", "/v1/verify", "helper", "verify", "Verify an assertion",
    {200: ("The Persona verifier answer; a bad assertion is a failure, not an error.",
           "VerifyResult")},
    body=("VerifyRequest", True),
)
add(
    "get", "/v1/status", "owner", "status", "The daemon's status",
    {200: ("Version, storage, counts.", "DaemonStatus")},
)
add(
    "post", "/v1/ui/open", "owner", "openUi", "Show the tray app's doorhanger",
    {204: ("The tray app opens its doorhanger (its window where there is no tray).", None)},
    description="What a second launch of `sessionmgr` asks of the running one.",
    body=("EmptyObject", False),
    errors={409: "This daemon runs headless, with no tray app (no_tray_app)" + AUTH_CONFLICT},
)
add(
    "get", "/v1/pairings", "owner", "listPairings", "Pairing requests",
    {200: ("Pending requests first.", "PairingList")},
)
for verb, done in (("approve", "approved"), ("reject", "rejected")):
    add(
        "post", f"/v1/pairings/{{pairing_id}}/{verb}", "owner", f"{verb}Pairing",
        f"{verb.capitalize()} a pairing request",
        {200: (f"The request is {done}.", "PairingDecision")},
        body=("EmptyObject", False),
        errors={
            404: "No such pairing request (unknown_pairing).",
            409: "The request is no longer pending (pairing_approved, pairing_rejected,"
            " pairing_expired)" + AUTH_CONFLICT,
        },
    )
add(
    "get", "/v1/helpers", "owner", "listHelpers", "Paired helpers",
    {200: ("Oldest first.", "HelperList")},
)
add(
    "delete", "/v1/helpers/{helper_id}", "owner", "revokeHelper", "Revoke a helper",
    {204: ("Revoked: its token fails from the next request on.", None)},
    errors={404: "No such helper (unknown_helper)."},
)
add(
    "patch", "/v1/helpers/{helper_id}", "helper", "updateHelper",
    "A helper updates its own events URL",
    {200: ("Updated.", "HelperUpdated")},
    description="A helper's port changes on each start. Only the helper itself may call"
    " this, with its own token.",
    body=("HelperUpdate", True),
    errors={
        403: "Not this helper's own token (not_this_helper; also for the owner token), or"
        " a forbidden Origin."
    },
)
add(
    "get", "/v1/events", "owner", "listEvents", "Recent events with their deliveries",
    {200: ("Newest first.", "EventList")},
    description="Any other query parameter, or one of these given twice, is a 400.",
    query=[
        {
            "name": "site",
            "in": "query",
            "required": False,
            "description": "Only this site's events (a host name, normalised).",
            "schema": {"type": "string"},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "How many (default 100).",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        },
    ],
)
# fmt: on

SCHEMAS["OpenApiDocument"] = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {"openapi": {"const": "3.1.0"}},
}

DESCRIPTION = f"""\
The loopback API of the sessionmgr daemon (`sessionmgr serve`), for the owner (the \
app, the command line) and for paired browser helpers that report what pages set \
`navigator.id.sessions` to.

The daemon listens on 127.0.0.1 only, on the port written to `endpoint.json` (mode 0600) \
together with the owner token. Before routing, every request passes these guards:

* `Host` must be exactly `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT`: else 421; \
a missing or duplicate Host is a 400.
* An `Origin` header that is not the extension origin of a paired helper: 403.
* A body needs `Content-Type: application/json` (else 415) and a `Content-Length` of at \
most {MAX_BODY} bytes (else 413, decided from the header without reading the body; the \
connection is then closed). Chunked bodies: 411.
* Malformed JSON, JSON that is not an object, `NaN`/`Infinity`, and well-formed JSON with \
bad values: 400, naming the field.
* An unknown path: 404; a method the path does not have: 405 with an `Allow` header.

No CORS headers are ever sent. Every error has the body \
`{{"error": {{"code": "snake_case", "message": "what and where"}}}}`."""


def build() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in sorted(OPERATIONS, key=lambda item: (item[1], item[0])):
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessionmgr loopback API",
            "version": "1",
            "summary": "Session indicators and account switching for navigator.id.sessions.",
            "description": DESCRIPTION,
            "license": {"name": "MPL-2.0", "identifier": "MPL-2.0"},
        },
        "tags": [
            {"name": "public", "description": "No token needed."},
            {"name": "pairing", "description": "A pending helper polls its request."},
            {"name": "helper", "description": "Paired helpers and the owner."},
            {"name": "owner", "description": "The owner only."},
        ],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(SCHEMAS.items())),
            "responses": RESPONSES,
            "parameters": PARAMETERS,
            "headers": RENEWAL_HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is out of date; run python scripts/openapi.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
