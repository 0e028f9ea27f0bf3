"""The session service: the site state machine over the store.

The API and the GUI both act through this one object. Every site lives in the
store; the service keeps the records of the sites in use (an LRU of
``CACHED_SITES``), so memory does not grow with the number of sites, and the
pages being browsed (which redeclare on every load) never touch the disk. It
applies the pure rules of :mod:`sessionmgr.core.rules`, writes each change with
the events it causes in one transaction, and tells listeners what changed.
Listeners run on the thread that made the change; the GUI bridge moves them to
the GUI thread.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from sessionmgr.core import rules
from sessionmgr.core.ids import random_id
from sessionmgr.core.model import (
    Attention,
    Declaration,
    Event,
    SiteRecord,
    parse_declaration,
    parse_identifier,
)
from sessionmgr.core.sitekey import display_site, normalize_site
from sessionmgr.errors import InvalidInput, NotFound
from sessionmgr.store.repository import Changes, Store

log = logging.getLogger("sessionmgr.service")


class Change(NamedTuple):
    """What changed: ``kind`` is site, site_removed, event, delivery, pairing, helper or focus.

    A site change carries the record from before it (``None`` for a new site), for
    listeners that tell the user what happened without keeping every site."""

    kind: str
    key: str
    before: SiteRecord | None = None


# Records kept in memory: the sites in use. Each is about 1 KiB with its cached answer.
CACHED_SITES = 512


Listener = Callable[[Change], None]


class SessionService:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        pending_timeout: float = rules.DEFAULT_PENDING_TIMEOUT,
        persist_seconds: float = rules.DEFAULT_PERSIST_SECONDS,
        recipients: Callable[[str], list[str]] | None = None,
        helper_names: Callable[[], dict[str, str]] | None = None,
        public_key_for: Callable[[str, str], str] | None = None,
    ):
        self.store = store
        self.clock = clock
        self.pending_timeout = pending_timeout
        self.persist_seconds = persist_seconds
        self._recipients = recipients or (lambda site: [])
        self._helper_names = helper_names or dict
        self._public_key_for = public_key_for
        self._lock = threading.RLock()
        # The sites in use, least recently used first; the store has every site.
        self._sites: OrderedDict[str, SiteRecord] = OrderedDict()
        self.cached_sites = CACHED_SITES
        # Sites with an action waiting for the site's answer, and when it was asked:
        # the reaper's work, kept whether or not the record is cached.
        self._pending: dict[str, float] = store.pending_sites()
        self._focused: str | None = None
        # The API's answers, per cached site: (record, focused, valid until, JSON bytes).
        # Records are immutable, so an answer holds until the record or the focus
        # changes, or a "stay signed in" in it expires.
        self._encoded: dict[str, tuple[SiteRecord, bool, float, bytes]] = {}
        # The last declaration applied per cached site and the record it left: a page
        # that redeclares the same thing (every page load does) needs no rules run again.
        self._last_applied: dict[str, tuple[Declaration, SiteRecord]] = {}
        # The helpers known to have declared each cached site (stored as helper_sites):
        # a redeclaration through the same helper reads and writes nothing for it.
        self._helper_sites: dict[str, set[str]] = {}
        self._listeners: list[Listener] = []
        self._event_written: list[Callable[[], None]] = []
        self._reaper_wakeup = threading.Condition(self._lock)
        self._reaper: threading.Thread | None = None
        self._running = False  # between start() and stop(): the reaper may run

    # -- observation ---------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def on_event_written(self, callback: Callable[[], None]) -> None:
        """The dispatcher's wake-up: called after an event is committed."""
        self._event_written.append(callback)

    def notify(self, changes: list[Change]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for change in changes:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:
                    log.exception("a listener failed on %s", change)

    def _events_written(self) -> None:
        for callback in self._event_written:
            callback()

    # -- reads -----------------------------------------------------------------

    def _json(self, record: SiteRecord) -> dict[str, Any]:
        return record.to_json(now=self.clock(), focused=record.site == self._focused)

    def _encode(self, record: SiteRecord) -> bytes:
        """The record's JSON as the API sends it, encoded once per change."""
        now = self.clock()
        focused = record.site == self._focused
        cached = self._encoded.get(record.site)
        if cached is not None and cached[0] is record and cached[1] is focused and now < cached[2]:
            return cached[3]
        encoded = json.dumps(record.to_json(now=now, focused=focused)).encode()
        persistent = record.persistent_at(now)
        valid_until = persistent.expires if persistent else math.inf
        with self._lock:  # kept for a site in use only (the cache may have moved on)
            if self._sites.get(record.site) is record:
                self._encoded[record.site] = (record, focused, valid_until, encoded)
        return encoded

    def _commit(self, changes: Changes) -> None:
        """Write one command's changes, each changed site with its API answer (as if
        unfocused), which a list of every site then sends as stored."""
        now = self.clock()
        for record in changes.sites:
            persistent = record.persistent_at(now)
            changes.answers[record.site] = (
                json.dumps(record.to_json(now=now)).encode(),
                persistent.expires if persistent else None,
            )
        self.store.commit(changes)

    # -- the records in use -------------------------------------------------------

    def _get(self, key: str) -> SiteRecord | None:
        """The site's record (``key`` normalised), from memory or else the store.
        Called with the lock held, like every method below that touches the cache."""
        record = self._sites.get(key)
        if record is not None:
            self._sites.move_to_end(key)
            return record
        record = self.store.load_site(key)
        if record is not None:
            self._keep(record)
        return record

    def _keep(self, record: SiteRecord) -> None:
        """A record just read or written is the site's current one; the least recently
        used beyond ``cached_sites`` are forgotten (the store has them)."""
        site = record.site
        sites = self._sites
        sites[site] = record
        sites.move_to_end(site)
        if record.pending is not None:
            self._pending[site] = record.pending.created_at
        else:
            self._pending.pop(site, None)
        while len(sites) > self.cached_sites:
            self._uncache(next(iter(sites)))

    def _uncache(self, site: str) -> None:
        self._sites.pop(site, None)
        self._encoded.pop(site, None)
        self._last_applied.pop(site, None)
        self._helper_sites.pop(site, None)

    def _scan(self, *, signed_in: bool = False) -> Iterator[SiteRecord]:
        """Every site (or every signed-in one) in site order: a cached record as it is
        (cached answers stay valid), the others read from the store a page at a time."""
        cached = self._sites
        for record in self.store.iter_sites(signed_in=signed_in):
            yield cached.get(record.site, record)

    def list_sites(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._json(record) for record in self._scan()]

    def site_records(self) -> tuple[list[SiteRecord], str | None, float]:
        """Every site's record, the focused site and the time, read together.

        Records are immutable, so a reader (the GUI) may keep them instead of
        copying each site into a JSON dict; ``record.to_json(now=..., focused=...)``
        with these values is what :meth:`list_sites` gives.
        """
        with self._lock:
            return list(self._scan()), self._focused, self.clock()

    def list_sites_encoded(self) -> bytes:
        """``{"sites": [...]}`` for the API, from the per-site encodings."""
        with self._lock:
            now, focused, cached = self.clock(), self._focused, self._sites
            parts = []
            for site, answer, until in self.store.iter_answers():
                if answer is None or site == focused or (until is not None and until <= now):
                    record = cached.get(site) or self.store.load_site(site)
                    if record is not None:
                        parts.append(self._encode(record))
                else:
                    parts.append(answer)
        return b'{"sites": [' + b", ".join(parts) + b"]}"

    def get_site_encoded(self, site: str) -> bytes | None:
        key = normalize_site(site)
        with self._lock:
            record = self._get(key)
            return self._encode(record) if record else None

    def get_site(self, site: str) -> dict[str, Any] | None:
        key = normalize_site(site)
        with self._lock:
            record = self._get(key)
            return self._json(record) if record else None

    def focused_site(self) -> str | None:
        return self._focused

    def site_count(self) -> int:
        return self.store.site_count()

    def record(self, site: str) -> SiteRecord | None:
        with self._lock:
            return self._get(site)

    def tray_summary(self, limit: int, attention_codes: tuple[str, ...]) -> tuple[
            list[SiteRecord], int, int]:
        """What a tray shows without holding every site: the first ``limit`` signed-in
        sites (by name), how many are signed in, and how many sites have an attention
        with one of ``attention_codes``. Indexed queries, whatever the number of sites."""
        with self._lock:
            first, count = self.store.signed_in_sites(limit)
            cached = self._sites
            first = [cached.get(record.site, record) for record in first]
            return first, count, self.store.count_attention(attention_codes)

    def list_events(self, site: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        key = normalize_site(site) if site is not None else None
        return self.store.list_events(key, limit)

    # -- declarations ------------------------------------------------------------

    def declare(self, site: str, body: object, *, helper_id: str | None = None) -> dict[str, Any]:
        """Apply what a page declared (R1–R7, R10, R11); writes only what changed."""
        with self._lock:
            return self._json(self._declare(site, body, helper_id))

    def declare_encoded(self, site: str, body: object, *, helper_id: str | None = None) -> bytes:
        """:meth:`declare` with the answer as the API's JSON bytes.

        Encoded outside the lock: the record is immutable, and a cache entry written
        for an older record only causes a miss, since entries are checked by identity.
        """
        return self._encode(self._declare(site, body, helper_id))

    def _unchanged_redeclaration(
        self, key: str, declaration: Declaration, current: SiteRecord | None, now: float
    ) -> bool:
        """The same declaration again, on the record it left, with nothing due to expire.

        Every other change (an action, a timeout, delivery trouble) replaces the
        record, so identity says the record is exactly what this declaration left.
        """
        last = self._last_applied.get(key)
        return (
            last is not None
            and current is last[1]
            and (last[0] is declaration or last[0] == declaration)
            and (current.persistent is None or current.persistent.expires > now)
            and (current.persist_intent is None or current.persist_intent.expires > now)
        )

    def _declare(self, site: str, body: object, helper_id: str | None) -> SiteRecord:
        key = normalize_site(site)
        declaration = body if isinstance(body, Declaration) else parse_declaration(body)
        notices: list[Change] = []
        with self._lock:
            now = self.clock()
            current = self._get(key)
            batch = Changes()
            if (
                helper_id is not None
                and helper_id not in self._helper_sites.get(key, ())
                and not self.store.has_helper_site(helper_id, key)
            ):
                batch.helper_sites.append((helper_id, key))
            if self._unchanged_redeclaration(key, declaration, current, now):
                assert current is not None
                record = current
            else:
                transition = rules.apply_declaration(
                    current, key, declaration, now=now, persist_seconds=self.persist_seconds
                )
                # Unchanged: keep the very same record, so cached answers stay valid.
                record = transition.record if transition.changed else current or transition.record
                if transition.changed:
                    batch.sites.append(record)
                    notices.append(Change("site", key, current))
                if transition.resolved is not None:
                    batch.outcomes[transition.resolved.id] = "confirmed"
                    notices.append(Change("event", transition.resolved.id))
            self._commit(batch)
            self._keep(record)
            if (answer := batch.answers.get(key)) is not None:  # made for the store: reuse
                until = math.inf if answer[1] is None else answer[1]
                self._encoded[key] = (record, False, until, answer[0])
            if helper_id is not None:
                self._helper_sites.setdefault(key, set()).add(helper_id)
            self._last_applied[key] = (declaration, record)
            if declaration.focused and self._focused != key:
                self._focused = key
                notices.append(Change("focus", key))
        self.notify(notices)
        return record

    def helpers_for_site(self, site: str) -> set[str]:
        """The helpers that declared ``site``: its events go to them."""
        return self.store.helpers_for_site(site)

    def focus(self, site: str | None) -> str | None:
        """The browser's active tab moved; kept in memory only, never written."""
        key = None if site is None else normalize_site(site)
        with self._lock:
            if key == self._focused:
                return key
            self._focused = key
        self.notify([Change("focus", key or "")])
        return key

    # -- user actions -----------------------------------------------------------

    def _existing(self, site: str) -> SiteRecord:
        key = normalize_site(site)
        record = self._get(key)
        if record is None:
            raise NotFound(f"sessionmgr has never seen the site {key}", code="unknown_site")
        return record

    def _commit_action(self, before: SiteRecord, after: SiteRecord, event: Event) -> None:
        changes = Changes(sites=[after], events=[(event, self._recipients(after.site))])
        if before.pending is not None:
            changes.outcomes[before.pending.id] = "superseded"
        self._commit(changes)
        self._keep(after)
        self._wake_reaper_locked()

    def login(self, site: str, account: str | None, persistent: bool = False) -> dict[str, Any]:
        """R8: log in, choose an account, or switch; the site confirms later (R10)."""
        if account is not None:
            account = parse_identifier(account, "id")
        if not isinstance(persistent, bool):
            raise InvalidInput("persistent", "must be true or false")
        with self._lock:
            current = self._existing(site)
            after, event = rules.request_login(
                current,
                account,
                persistent=persistent,
                event_id=random_id(),
                now=self.clock(),
            )
            if persistent and account is not None and self._public_key_for is not None:
                key = self._public_key_for(after.site, account)
                event = event._replace(public_key=key)
                after = after._replace(pending=event)
            self._commit_action(current, after, event)
        self._events_written()
        self.notify([Change("event", event.id), Change("site", after.site, current)])
        return event.to_json()

    def logout(self, site: str) -> dict[str, Any]:
        """R9: log out the active account."""
        with self._lock:
            current = self._existing(site)
            after, event = rules.request_logout(
                current, event_id=random_id(), now=self.clock()
            )
            self._commit_action(current, after, event)
        self._events_written()
        self.notify([Change("event", event.id), Change("site", after.site, current)])
        return event.to_json()

    def logout_all(self) -> list[dict[str, Any]]:
        """Log out of every site where someone is signed in, in one transaction."""
        events: list[Event] = []
        befores: list[SiteRecord] = []
        with self._lock:
            now = self.clock()
            changes = Changes()
            updated: list[SiteRecord] = []
            for record in self._scan(signed_in=True):
                if record.active is None:
                    continue
                after, event = rules.request_logout(record, event_id=random_id(), now=now)
                if record.pending is not None:
                    changes.outcomes[record.pending.id] = "superseded"
                changes.sites.append(after)
                changes.events.append((event, self._recipients(after.site)))
                updated.append(after)
                befores.append(record)
                events.append(event)
            self._commit(changes)
            for after in updated:
                self._keep(after)
            self._wake_reaper_locked()
        if events:
            self._events_written()
        self.notify(
            [Change("event", e.id) for e in events]
            + [Change("site", before.site, before) for before in befores]
        )
        return [event.to_json() for event in events]

    def signed_in(self) -> list[dict[str, Any]]:
        """Sites with an active account: what "log out of all" would touch."""
        with self._lock:
            return [
                self._json(r)
                for r in self._scan(signed_in=True)
                if r.active
            ]

    def forget_site(self, site: str) -> None:
        with self._lock:
            record = self._existing(site)
            changes = Changes(deleted_sites=[record.site])
            if record.pending is not None:
                changes.outcomes[record.pending.id] = "superseded"
            self._commit(changes)
            self._uncache(record.site)
            self._pending.pop(record.site, None)
            if self._focused == record.site:
                self._focused = None
        self.notify([Change("site_removed", record.site)])

    def cancel_persistent(self, site: str) -> None:
        with self._lock:
            record = self._existing(site)
            after = rules.cancel_persistent(record, now=self.clock())
            if after is record:
                return
            self._commit(Changes(sites=[after]))
            self._keep(after)
        self.notify([Change("site", after.site, record)])

    def persistent_login(self, site: str) -> tuple[str, float] | None:
        """(account, expires) when "stay signed in" holds for the site now."""
        with self._lock:
            record = self._get(normalize_site(site))
            persistent = record.persistent_at(self.clock()) if record else None
            return (persistent.account, persistent.expires) if persistent else None

    # -- delivery feedback --------------------------------------------------------

    def delivery_changed(self, event_id: str) -> None:
        """The dispatcher recorded an attempt: surface trouble on the site."""
        site = self.store.event_site(event_id)
        if site is None:
            return
        deliveries = self.store.delivery_summary(event_id)
        changes = [Change("delivery", event_id)]
        with self._lock:
            record = self._get(site)
            if record is not None:
                attention = self._delivery_attention(record, event_id, deliveries)
                if attention != record.attention and (
                    attention is not None
                    or (record.attention and record.attention.event_id == event_id)
                ):
                    after = record._replace(attention=attention)
                    self._commit(Changes(sites=[after]))
                    self._keep(after)
                    changes.append(Change("site", site, record))
        self.notify(changes)

    def _delivery_attention(
        self, record: SiteRecord, event_id: str, deliveries: list[dict[str, Any]]
    ) -> Attention | None:
        if any(d["status"] == "delivered" for d in deliveries) or not deliveries:
            return None
        failing = [d for d in deliveries if d["attempts"] > 0 or d["status"] == "failed"]
        if not failing:
            return None
        names = self._helper_names()
        worst = failing[0]
        name = names.get(worst["helper_id"], "the browser helper")
        event = record.pending if record.pending and record.pending.id == event_id else None
        verb = "sign you in" if event is None or event.type == "login" else "sign you out"
        retry = "" if worst["status"] == "failed" else "; retrying"
        code = "undelivered"
        if worst["status"] == "failed" and "gone" in (worst["last_error"] or ""):
            code = "helper_gone"
        message = (
            f"Could not tell {display_site(record.site)} to {verb}: {name} could not be reached"
            f" ({worst['last_error'] or 'no answer'}){retry}"
        )
        return Attention(code, message, event_id)  # type: ignore[arg-type]

    # -- pending timeouts ------------------------------------------------------------

    def start(self) -> None:
        """Pending actions time out on a thread of their own, which starts with the first
        one: at start-up only when one was left pending (an app with nothing pending
        keeps no such thread, and start-up makes no pass over every site for it)."""
        with self._lock:
            self._running = True
            if self._pending:
                self._wake_reaper_locked()

    def _wake_reaper_locked(self) -> None:
        """A pending action was added: the reaper (started now if need be) looks again."""
        if self._reaper is None and self._running:
            self._reaper = threading.Thread(
                target=self._reap_loop, name="pending-reaper", daemon=True
            )
            self._reaper.start()
        self._reaper_wakeup.notify_all()

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._reaper_wakeup.notify_all()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None

    def _reap_loop(self) -> None:
        """Sleeps until the next pending action times out; no polling."""
        with self._lock:
            while self._running:
                changes = self.expire_pending()
                if changes:
                    self._lock.release()
                    try:
                        self.notify(changes)
                    finally:
                        self._lock.acquire()
                    continue
                deadlines = [created + self.pending_timeout for created in self._pending.values()]
                timeout = max(0.0, min(deadlines) - self.clock()) if deadlines else None
                self._reaper_wakeup.wait(timeout)

    def expire_pending(self) -> list[Change]:
        """Clear pending actions the site never answered; returns what changed."""
        changes: list[Change] = []
        with self._lock:
            now = self.clock()
            batch = Changes()
            expired: list[SiteRecord] = []
            for site, created in list(self._pending.items()):
                if now - created < self.pending_timeout:
                    continue  # not due: no need to read the record
                record = self._get(site)
                if record is None:
                    self._pending.pop(site, None)
                    continue
                after = rules.expire_pending(record, now=now, timeout=self.pending_timeout)
                if after is None or record.pending is None:
                    continue
                deliveries = self.store.delivery_summary(record.pending.id)
                undelivered = self._delivery_attention(record, record.pending.id, deliveries)
                if undelivered is not None:
                    after = after._replace(attention=undelivered)
                batch.sites.append(after)
                batch.outcomes[record.pending.id] = "no_response"
                expired.append(after)
                changes += [Change("site", site, record), Change("event", record.pending.id)]
            self._commit(batch)
            for after in expired:
                self._keep(after)
        return changes
