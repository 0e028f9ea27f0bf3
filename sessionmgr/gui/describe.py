"""Words for states: one place so tray, doorhanger and table say the same thing.

Pure functions over the SiteState and Event JSON dicts (DESIGN.md section 3);
no Qt here, so they are trivially testable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

State = dict[str, Any]


def short(ident: str | None, limit: int = 28) -> str:
    """Shorten an account id for tight spots, keeping its start ("bob@exa…")."""
    if not ident:
        return ""
    return ident if len(ident) <= limit else ident[: limit - 1] + "…"


def is_signed_in(state: State | None) -> bool:
    if not state or not state.get("supported"):
        return False
    return bool(state.get("active")) or state.get("indicator") not in (None, "login")


def is_anonymous(state: State | None) -> bool:
    """The Login Status API says only "signed in" or not, never as whom."""
    return bool(state) and (state or {}).get("api") == "login-status"


def pending_text(event: dict[str, Any] | None, site: str, limit: int = 28) -> str:
    """What we are waiting for, e.g. "Switching to bob@… — waiting for example.com"."""
    if not event:
        return ""
    account = short(event.get("account"), limit)
    if event.get("type") == "logout":
        what = f"Logging out {account}" if account else "Logging out"
    elif event.get("previous"):
        what = f"Switching to {account}"
    elif account:
        what = f"Logging in as {account}"
    else:
        what = "Logging in"
    return f"{what} — waiting for {site}"


def status_text(state: State | None) -> str:
    """One line for who is signed in on a site."""
    if not state:
        return "No site in focus"
    if not state.get("supported"):
        return "Does not use sign-in sessions"
    if is_anonymous(state):
        if is_signed_in(state):
            return "Signed in (the site does not say as whom)"
        return "Not signed in"
    if state.get("active"):
        return f"Signed in as {state['active']}"
    return "Not signed in"


def tooltip(state: State | None, undelivered: bool = False) -> str:
    """The tray tooltip: "example.com — signed in as bear@example.com"."""
    if not state:
        text = "Session Manager — no site in focus"
    else:
        site = state["site"]
        if state.get("pending"):
            text = pending_text(state["pending"], site)
        else:
            status = status_text(state)
            text = f"{site} — {status[0].lower()}{status[1:]}"
    attention = (state or {}).get("attention")
    if attention:
        text += f"\n⚠ {attention.get('message') or 'The site did not respond'}"
    elif undelivered:
        text += "\n⚠ Some changes could not be delivered to your browser"
    return text


def parse_time(value: str | float | int | None) -> datetime | None:
    """Accept the ISO 8601 strings (or epoch seconds) the service hands out."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: str | float | int | None, *, with_time: bool = True) -> str:
    """A local, human date ("12 Mar 2027, 14:05"); empty when unknown."""
    moment = parse_time(value)
    if moment is None:
        return ""
    local = moment.astimezone()
    return f"{local.day} {local:%b %Y, %H:%M}" if with_time else f"{local.day} {local:%b %Y}"


def binding_text(binding: dict[str, Any] | None) -> str:
    if not binding:
        return ""
    return f"cookie {binding.get('cookie_name') or binding.get('name') or '?'}"
