"""SiteState and Event dicts shaped as in DESIGN.md section 3, for view tests."""

from __future__ import annotations

from typing import Any

NOW = "2026-11-21T18:00:00+00:00"


def session(email: str, status: str = "active", cookie: str | None = None) -> dict[str, Any]:
    bound = {"type": "cookie", "cookie_name": cookie} if cookie else None
    return {"email": email, "status": status, "bound_to": bound}


def event(site: str, kind: str = "login", account: str | None = None,
          previous: str | None = None, persistent: bool = False,
          outcome: str = "pending", deliveries: list[dict[str, Any]] | None = None,
          event_id: str = "0b0b0b0b-0000-4000-8000-000000000001") -> dict[str, Any]:
    return {"id": event_id, "type": kind, "site": site, "account": account,
            "previous": previous, "persistent": persistent, "created_at": NOW,
            "outcome": outcome, "deliveries": deliveries or []}


def state(site: str = "example.com", *, supported: bool = True,
          sessions: list[dict[str, Any]] | None = None, pending: dict[str, Any] | None = None,
          persistent: dict[str, Any] | None = None, attention: dict[str, Any] | None = None,
          api: str = "sessions", focused: bool = True, indicator: Any = "auto",
          updated_at: str = NOW) -> dict[str, Any]:
    sessions = sessions or []
    active = next((s["email"] for s in sessions if s["status"] == "active"), None)
    binding = next((s["bound_to"] for s in sessions if s["bound_to"]), None)
    if indicator == "auto":
        indicator = (active or "login") if supported else None
    return {"site": site, "supported": supported, "indicator": indicator, "active": active,
            "sessions": sessions if supported else [], "binding": binding,
            "source": "declared" if supported else "none", "pending": pending,
            "persistent": persistent, "updated_at": updated_at, "focused": focused,
            "api": api, "attention": attention}


UNSUPPORTED = state(supported=False)
LOGIN = state()
SIGNED_IN = state(sessions=[session("bear@example.com", cookie="SID"),
                            session("bob@example.com", "passive"),
                            session("bear.work@example.com", "passive")])
NOBODY_ACTIVE = state(sessions=[session("bear@example.com", "passive"),
                                session("bob@example.com", "passive")])
PENDING_SWITCH = {**SIGNED_IN, "pending": event("example.com", account="bob@example.com",
                                                previous="bear@example.com")}
NO_RESPONSE = {**SIGNED_IN, "attention": {
    "code": "no_response", "event_id": "0b0b0b0b-0000-4000-8000-000000000001",
    "message": "example.com did not respond: you are still signed in as bear@example.com."}}
UNDELIVERED = {**SIGNED_IN, "attention": {
    "code": "helper_gone", "event_id": "0b0b0b0b-0000-4000-8000-000000000001",
    "message": "Could not tell example.com to switch accounts: the Chromium helper is "
               "not running."}}
STAY_SIGNED_IN = {**SIGNED_IN, "persistent": {"id": "bear@example.com",
                                              "expires": "2026-12-21T18:00:00+00:00"}}
LOGIN_STATUS = state(api="login-status", indicator="signed-in")
