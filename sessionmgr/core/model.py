"""Values of the Sessions API: what a page declares, what a site's state is,
and the events a user action produces. Immutable, JSON in and out, no I/O.

Values are named tuples, here and across the core: a frozen dataclass costs
0.3-0.4 ms to define at import (start-up defines every one) and 3x as long to
make (start-up makes one per stored session). Tuples compare as tuples, so only
compare values of one type."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

from sessionmgr.errors import InvalidInput

Status = Literal["active", "passive"]
Source = Literal["declared", "binding", "none"]
Api = Literal["sessions", "login-status"]
EventType = Literal["login", "logout"]
Outcome = Literal["pending", "confirmed", "no_response", "superseded"]

MAX_ID_LENGTH = 254
MAX_COOKIE_NAME_LENGTH = 256
MAX_SESSIONS = 100
MAX_COOKIES = 500
APIS = ("sessions", "login-status")
# One string object per word a stored row repeats for every site and session
# (JSON decoding makes a new one each time).
_CONSTANTS: dict[str, Any] = {
    word: word
    for word in ("active", "passive", "declared", "binding", "none", *APIS)
}


class Binding(NamedTuple):
    """A cookie whose presence keeps the last declaration alive (R5)."""

    cookie_name: str
    type: Literal["cookie"] = "cookie"

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "cookie_name": self.cookie_name}


class Session(NamedTuple):
    """One declared account (start-up makes 50,000 of them in 5 ms)."""

    email: str
    status: Status = "active"
    bound_to: Binding | None = None

    def to_json(self, status: Status | None = None) -> dict[str, Any]:
        return {
            "email": self.email,
            "status": status or self.status,
            "bound_to": self.bound_to.to_json() if self.bound_to else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        bound = data.get("bound_to")
        return cls(
            email=data["email"],
            status=data.get("status", "active"),
            bound_to=Binding(bound["cookie_name"]) if bound else None,
        )


class Declaration(NamedTuple):
    """One report from a helper: ``sessions is None`` means the page did not declare."""

    sessions: tuple[Session, ...] | None
    cookies: frozenset[str] = frozenset()
    focused: bool = False
    api: Api = "sessions"


class Event(NamedTuple):
    """A login or logout the user asked for, to be delivered to the site's helpers."""

    id: str
    type: EventType
    site: str
    account: str | None
    previous: str | None
    persistent: bool
    created_at: float
    outcome: Outcome = "pending"
    public_key: str | None = None  # a "stay signed in" login: the key the site registers (R11)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "site": self.site,
            "account": self.account,
            "previous": self.previous,
            "persistent": self.persistent,
            "created_at": self.created_at,
            "outcome": self.outcome,
            "public_key": self.public_key,
        }

    def wire_json(self) -> dict[str, Any]:
        """The webhook body: the contract's Event fields, nothing the site need not see."""
        data = self.to_json()
        del data["outcome"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            id=data["id"],
            type=data["type"],
            site=data["site"],
            account=data["account"],
            previous=data["previous"],
            persistent=bool(data["persistent"]),
            created_at=float(data["created_at"]),
            outcome=data.get("outcome", "pending"),
            public_key=data.get("public_key"),
        )


class Persistent(NamedTuple):
    """A "stay signed in" choice for (site, account), until ``expires`` (seed 001)."""

    account: str
    expires: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.account, "expires": self.expires}


class Attention(NamedTuple):
    """Something the user should be told about the site's last action."""

    code: Literal["no_response", "undelivered", "helper_gone"]
    message: str
    event_id: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "event_id": self.event_id}


class SiteRecord(NamedTuple):
    """Everything sessionmgr knows about one site.

    ``sessions`` is the last declared list as declared (statuses before R3);
    ``None`` means the site does not (or no longer does) support the API.
    """

    site: str
    sessions: tuple[Session, ...] | None = None
    binding: Binding | None = None
    source: Source = "none"
    api: Api = "sessions"
    pending: Event | None = None
    persistent: Persistent | None = None
    # "Stay signed in" asked for, not yet confirmed: outlives ``pending`` because a
    # site often answers first from its login page, before the person has signed in.
    persist_intent: Persistent | None = None
    attention: Attention | None = None
    updated_at: float = 0.0

    @property
    def supported(self) -> bool:
        return self.sessions is not None

    @property
    def effective(self) -> tuple[tuple[Session, Status], ...]:
        """Sessions with their effective status: the first active wins (R3)."""
        result: list[tuple[Session, Status]] = []
        seen_active = False
        for session in self.sessions or ():
            status: Status = "passive"
            if session.status == "active" and not seen_active:
                status, seen_active = "active", True
            result.append((session, status))
        return tuple(result)

    @property
    def active(self) -> str | None:
        """The first session declared active (R3), without building :attr:`effective`."""
        for session in self.sessions or ():
            if session.status == "active":
                return session.email
        return None

    @property
    def indicator(self) -> str | None:
        """R4: the active identifier, "login" when supported with nobody active."""
        if not self.supported:
            return None
        return self.active or "login"

    def accounts(self) -> tuple[str, ...]:
        return tuple(session.email for session in self.sessions or ())

    def persistent_at(self, now: float) -> Persistent | None:
        if self.persistent and self.persistent.expires > now:
            return self.persistent
        return None

    def same_state(self, other: SiteRecord) -> bool:
        """Equal in everything but the update time: nothing to write."""
        return (
            self.sessions == other.sessions
            and self.binding == other.binding
            and self.source == other.source
            and self.api == other.api
            and self.pending == other.pending
            and self.persistent == other.persistent
            and self.persist_intent == other.persist_intent
            and self.attention == other.attention
        )

    def to_json(self, *, now: float, focused: bool = False) -> dict[str, Any]:
        persistent = self.persistent_at(now)
        return {
            "site": self.site,
            "supported": self.supported,
            "indicator": self.indicator,
            "active": self.active,
            "sessions": [session.to_json(status) for session, status in self.effective],
            "binding": self.binding.to_json() if self.binding else None,
            "source": self.source,
            "pending": self.pending.to_json() if self.pending else None,
            "persistent": persistent.to_json() if persistent else None,
            "updated_at": self.updated_at,
            "focused": focused,
            "api": self.api,
            "attention": self.attention.to_json() if self.attention else None,
        }

    def to_row(self) -> dict[str, Any]:
        """The stored form: declared statuses, not effective ones. Compact, because
        start-up parses every site's: a session is ``[id, status]`` or ``[id, status,
        cookie]``, a binding its cookie name, a persistent choice ``[account, expires]``;
        what is absent or the default is left out (no ``sessions``: not supported)."""
        row: dict[str, Any] = {}
        if self.sessions is not None:
            row["sessions"] = [
                [s.email, s.status, s.bound_to.cookie_name] if s.bound_to else [s.email, s.status]
                for s in self.sessions
            ]
        if self.binding:
            row["binding"] = self.binding.cookie_name
        if self.source != "none":
            row["source"] = self.source
        if self.api != "sessions":
            row["api"] = self.api
        if self.persistent:
            row["persistent"] = [self.persistent.account, self.persistent.expires]
        if self.persist_intent:
            row["persist_intent"] = [self.persist_intent.account, self.persist_intent.expires]
        if self.attention:
            row["attention"] = self.attention.to_json()
        return row

    @classmethod
    def from_row(
        cls,
        site: str,
        row: dict[str, Any],
        *,
        updated_at: float,
        pending: Event | None,
        bindings: dict[str, Binding] | None = None,
    ) -> SiteRecord:
        """The stored form back (see :meth:`from_rows` for many)."""
        return cls.from_rows([(site, row, updated_at, pending)], bindings)[0]

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[str, dict[str, Any], float, Event | None]],
        bindings: dict[str, Binding] | None = None,
    ) -> list[SiteRecord]:
        """Stored forms back: (site, row, updated_at, pending) each. Start-up loads every
        site through this one loop; equal bindings become one object (``bindings`` may
        be shared across calls), statuses, sources and apis the interned constants."""
        shared = {} if bindings is None else bindings
        word = _CONSTANTS.get
        # tuple.__new__ is what Session._make and SiteRecord() run, without their
        # Python-level frame: every field is given here (50,000 sessions: 16 -> 9 ms).
        new = tuple.__new__
        records = []
        for site, row, updated_at, pending in rows:
            sessions: tuple[Session, ...] | None = None
            if (declared := row.get("sessions")) is not None:
                made = []
                for entry in declared:
                    status = entry[1]
                    binding = None
                    if len(entry) > 2:
                        binding = shared.get(entry[2])
                        if binding is None:
                            binding = shared[entry[2]] = Binding(entry[2])
                    made.append(new(Session, (entry[0], word(status, status), binding)))
                sessions = tuple(made)
            site_binding = None
            if (cookie := row.get("binding")) is not None:
                site_binding = shared.get(cookie)
                if site_binding is None:
                    site_binding = shared[cookie] = Binding(cookie)
            source = row.get("source", "none")
            api = row.get("api", "sessions")
            persistent = row.get("persistent")
            intent = row.get("persist_intent")
            attention = row.get("attention")
            records.append(new(cls, (
                site,
                sessions,
                site_binding,
                word(source, source),
                word(api, api),
                pending,
                Persistent(persistent[0], float(persistent[1])) if persistent else None,
                Persistent(intent[0], float(intent[1])) if intent else None,
                Attention(**attention) if attention else None,
                updated_at,
            )))
        return records


# -- parsing ----------------------------------------------------------------


def _check_identifier(value: object, where: str, *, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(where, f"must be a string, got {_json_type(value)}")
    if not value:
        raise InvalidInput(where, "must not be empty")
    if len(value) > max_length:
        raise InvalidInput(where, f"is {len(value)} characters long; the limit is {max_length}")
    for index, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            raise InvalidInput(
                where, f"contains a control character (U+{ord(char):04X}) at position {index}"
            )
    return value


def parse_identifier(value: object, where: str = "id") -> str:
    return _check_identifier(value, where, max_length=MAX_ID_LENGTH)


def _parse_binding(value: object, where: str) -> Binding | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(where, f"must be an object or null, got {_json_type(value)}")
    kind = value.get("type")
    if kind != "cookie":
        shown = "missing" if "type" not in value else repr(kind)
        raise InvalidInput(
            f"{where}.type", f'must be "cookie" (the only binding type), got {shown}'
        )
    if "cookie_name" in value:
        name, name_field = value["cookie_name"], "cookie_name"
    elif "name" in value:
        name, name_field = value["name"], "name"
    else:
        raise InvalidInput(f"{where}.cookie_name", "is required for a cookie binding")
    return Binding(
        _check_identifier(name, f"{where}.{name_field}", max_length=MAX_COOKIE_NAME_LENGTH)
    )


def _parse_session(value: object, where: str) -> Session:
    if not isinstance(value, dict):
        raise InvalidInput(where, f"must be an object, got {_json_type(value)}")
    if "email" not in value:
        raise InvalidInput(f"{where}.email", "is required")
    email = _check_identifier(value["email"], f"{where}.email", max_length=MAX_ID_LENGTH)
    status = value.get("status", "active")
    if status not in ("active", "passive"):
        raise InvalidInput(
            f"{where}.status", f'must be "active" or "passive", got {_json_repr(status)}'
        )
    return Session(email, status, _parse_binding(value.get("bound_to"), f"{where}.bound_to"))


def parse_declaration(body: object) -> Declaration:
    """Validate a declaration body; raises :class:`InvalidInput` naming the field."""
    if not isinstance(body, dict):
        raise InvalidInput("body", f"must be a JSON object, got {_json_type(body)}")
    if "sessions" not in body:
        raise InvalidInput("sessions", "is required (null when the page did not declare)")
    raw_sessions = body["sessions"]
    sessions: tuple[Session, ...] | None
    if raw_sessions is None:
        sessions = None
    elif isinstance(raw_sessions, list):
        if len(raw_sessions) > MAX_SESSIONS:
            raise InvalidInput(
                "sessions", f"has {len(raw_sessions)} entries; the limit is {MAX_SESSIONS}"
            )
        parsed = [_parse_session(item, f"sessions[{i}]") for i, item in enumerate(raw_sessions)]
        seen: set[str] = set()
        unique = []
        for session in parsed:  # one account, one row: the first declaration of it wins
            if session.email not in seen:
                seen.add(session.email)
                unique.append(session)
        sessions = tuple(unique)
    else:
        raise InvalidInput("sessions", f"must be an array or null, got {_json_type(raw_sessions)}")

    raw_cookies = body.get("cookies", [])
    if not isinstance(raw_cookies, list):
        raise InvalidInput(
            "cookies", f"must be an array of cookie names, got {_json_type(raw_cookies)}"
        )
    if len(raw_cookies) > MAX_COOKIES:
        raise InvalidInput("cookies", f"has {len(raw_cookies)} names; the limit is {MAX_COOKIES}")
    cookies = frozenset(
        _check_identifier(name, f"cookies[{i}]", max_length=MAX_COOKIE_NAME_LENGTH)
        for i, name in enumerate(raw_cookies)
    )
    focused = body.get("focused", False)
    if not isinstance(focused, bool):
        raise InvalidInput("focused", f"must be true or false, got {_json_type(focused)}")
    api = body.get("api", "sessions")
    if api not in APIS:
        raise InvalidInput("api", f'must be "sessions" or "login-status", got {_json_repr(api)}')
    return Declaration(sessions, cookies, focused, api)


def declaration_to_json(declaration: Declaration) -> dict[str, Any]:
    return {
        "sessions": None
        if declaration.sessions is None
        else [s.to_json() for s in declaration.sessions],
        "cookies": sorted(declaration.cookies),
        "focused": declaration.focused,
        "api": declaration.api,
    }


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _json_repr(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    return _json_type(value)
