"""The site state machine: rules R1–R11 of the Sessions API as pure functions.

Each function takes the current :class:`SiteRecord` and returns the next one
(and the event a user action produces). Nothing here reads a clock, writes a
file or fires anything: the caller passes ``now`` and persists the result.
"""

from __future__ import annotations

from typing import NamedTuple

from sessionmgr.core.model import (
    Attention,
    Declaration,
    Event,
    Persistent,
    SiteRecord,
    Source,
)
from sessionmgr.core.sitekey import display_site
from sessionmgr.errors import Conflict

DEFAULT_PERSIST_SECONDS = 30 * 86400
DEFAULT_PENDING_TIMEOUT = 10.0
PERSIST_INTENT_SECONDS = 600.0  # time to type a password after choosing "stay signed in"


class Transition(NamedTuple):
    """The result of applying a declaration."""

    record: SiteRecord
    changed: bool
    resolved: Event | None = None  # the pending event the site just answered


def apply_declaration(
    current: SiteRecord | None,
    site: str,
    declaration: Declaration,
    *,
    now: float,
    persist_seconds: float = DEFAULT_PERSIST_SECONDS,
) -> Transition:
    """R1, R5, R6, R10, R11: fold one declaration into the site's state."""
    before = current or SiteRecord(site=site)
    sessions = declaration.sessions
    source: Source
    if sessions is not None:
        # R1/R6: an array is the session list; [] clears the binding too.
        active = next((s for s in sessions if s.status == "active"), None)
        bound = (
            active
            if active and active.bound_to
            else next((s for s in sessions if s.bound_to), None)
        )
        binding = bound.bound_to if bound else None
        source = "declared"
    elif (
        before.binding is not None
        and before.sessions is not None
        and before.binding.cookie_name in declaration.cookies
    ):
        # R5: undefined, but the bound cookie is still there: the last list holds.
        sessions, binding, source = before.sessions, before.binding, "binding"
    else:
        # R5: undefined and no live binding: the session information expired.
        sessions, binding, source = None, None, "none"

    after = before._replace(
        sessions=sessions,
        binding=binding,
        source=source,
        api=declaration.api,
        pending=None,  # R10: the site answered, whatever it says
        attention=None,
    )
    persistent, intent = _persistent_after(before, after, now, persist_seconds)
    after = after._replace(persistent=persistent, persist_intent=intent)
    changed = current is None or not after.same_state(before)
    if changed:
        after = after._replace(updated_at=now)
    return Transition(after, changed, before.pending)


def _persistent_after(
    before: SiteRecord, after: SiteRecord, now: float, persist_seconds: float
) -> tuple[Persistent | None, Persistent | None]:
    """R11: remember "stay signed in" once the site shows that account active.

    Returns (persistent login, intent still waiting). The intent starts with a
    pending persistent login and waits for the site to show the account
    active, even across declarations from a login page in between. A confirmed
    logout (or switch away) requested through sessionmgr ends a persistent
    login; a site that signs the person out on its own does not, since silently
    signing back in is exactly what the person asked for.
    """
    kept = before.persistent_at(now)
    intent = before.persist_intent
    if intent is not None and intent.expires <= now:
        intent = None
    pending = before.pending
    if pending is not None and pending.type == "login" and pending.account is not None:
        intent = (
            Persistent(pending.account, now + PERSIST_INTENT_SECONDS)
            if pending.persistent
            else None
        )
    active = after.active
    if intent is not None and active == intent.account:
        return Persistent(intent.account, now + persist_seconds), None
    if pending is not None and pending.type == "login" and active == pending.account:
        if kept and kept.account != active:
            return None, intent  # switched away from the remembered account
        return kept, intent
    logout_of = pending.account if pending is not None and pending.type == "logout" else None
    if kept and logout_of == kept.account and active != kept.account:
        return None, None
    return kept, intent


def request_login(
    current: SiteRecord, account: str | None, *, persistent: bool, event_id: str, now: float
) -> tuple[SiteRecord, Event]:
    """R8: log in (account None = "take me to the login"), choose or switch."""
    if not current.supported:
        raise Conflict(
            f"{current.site} does not use the Sessions API right now; nothing to log in to",
            code="not_supported",
        )
    active = current.active
    if account is None:
        if active is not None:
            raise Conflict(
                f"{active} is already signed in to {current.site}; name an account to switch to",
                code="already_signed_in",
            )
        previous = None
    else:
        if account not in current.accounts():
            raise Conflict(
                f"{account!r} is not one of the accounts {current.site} declared",
                code="unknown_account",
            )
        if account == active:
            raise Conflict(
                f"{account} is already the active account on {current.site}", code="already_active"
            )
        previous = active
    event = Event(event_id, "login", current.site, account, previous, persistent, now)
    return current._replace(pending=event, persist_intent=None, attention=None), event


def request_logout(current: SiteRecord, *, event_id: str, now: float) -> tuple[SiteRecord, Event]:
    """R9: log out the active account."""
    active = current.active
    if active is None:
        raise Conflict(f"nobody is signed in to {current.site}", code="not_signed_in")
    event = Event(event_id, "logout", current.site, active, None, False, now)
    return current._replace(pending=event, persist_intent=None, attention=None), event


def expire_pending(
    current: SiteRecord, *, now: float, timeout: float = DEFAULT_PENDING_TIMEOUT
) -> SiteRecord | None:
    """The site never answered: drop the pending state and say so (None: not yet)."""
    pending = current.pending
    if pending is None or now - pending.created_at < timeout:
        return None
    verb = {"login": "log in", "logout": "log out"}[pending.type]
    if pending.type == "login" and pending.previous:
        verb = f"switch to {pending.account}"
    message = (
        f"{display_site(current.site)} did not respond to the request to {verb} "
        f"within {timeout:g} s"
    )
    return current._replace(
        pending=None,
        attention=Attention("no_response", message, pending.id),
        updated_at=now,
    )


def cancel_persistent(current: SiteRecord, *, now: float) -> SiteRecord:
    """Undo "stay signed in" for the site."""
    if current.persistent is None:
        return current
    return current._replace(persistent=None, updated_at=now)
