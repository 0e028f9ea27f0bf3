"""The daemon: store, secrets, service, registry, dispatcher and API, wired once.

Both ``sessionmgr serve`` (headless) and the tray app run exactly this. It is
Qt-free; the GUI observes ``daemon.service``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sessionmgr import __version__, paths
from sessionmgr import settings as settings_mod
from sessionmgr.api.server import ApiServer
from sessionmgr.core.model import parse_identifier
from sessionmgr.core.sitekey import normalize_site
from sessionmgr.errors import Conflict
from sessionmgr.events.dispatcher import Delivery, Dispatcher
from sessionmgr.instance import InstanceLock
from sessionmgr.security.registry import HelperRegistry, Principal
from sessionmgr.security.secrets import SecretStore, open_secret_store
from sessionmgr.security.tokens import IssuedToken, KeySet, Tokener
from sessionmgr.service import Change, SessionService
from sessionmgr.store.repository import Store

log = logging.getLogger("sessionmgr.daemon")

API_KEYS = "api-signing-keys"
ASSERTION_TTL = 300.0


@functools.cache
def openapi_document() -> dict[str, Any]:
    from importlib import resources  # only when a client asks for the document

    text = resources.files("sessionmgr.api").joinpath("openapi.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@contextlib.contextmanager
def kept_for_good() -> Iterator[None]:
    """Around making what lives as long as the process (modules, every site's record):
    no collector passes meanwhile (re-enabled with 100,000 new objects in its youngest
    generation, the collector walks them all: ~25 ms at 10,000 sites), then out of the
    collector's sight for good (``gc.freeze``: no later pauses over them). The commands
    turn the collector off before their first import, so the window starts there."""
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        gc.enable()


class _DeliveryQueue:
    """The store as the dispatcher's queue, telling the registry when a helper is gone."""

    def __init__(self, store: Store, registry: HelperRegistry):
        self._store = store
        self._registry = registry

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        return self._store.due_deliveries(now, limit)

    def next_due_at(self) -> float | None:
        return self._store.next_due_at()

    def record_attempt(self, event_id: str, helper_id: str, **kwargs: Any) -> None:
        self._store.record_attempt(event_id, helper_id, **kwargs)

    def helper_gone(self, helper_id: str, reason: str) -> None:
        self._store.helper_gone(helper_id, f"helper gone: {reason}")
        self._registry.helper_gone(helper_id)


class Daemon:
    """Everything behind the loopback API, started and stopped as one."""

    def __init__(
        self,
        *,
        store: Store,
        secret_store: SecretStore,
        settings: settings_mod.Settings,
        port: int,
        lock: InstanceLock | None = None,
        endpoint_file: Path | None = None,
    ):
        self.store = store
        self.secret_store = secret_store
        self.settings = settings
        self.started_at = time.time()
        self._lock = lock
        self._endpoint_file = endpoint_file
        keys = KeySet.load(secret_store, API_KEYS, now=time.time())
        self.tokener = Tokener(
            keys, "api-token", last_revocation=lambda i: self.registry.last_revocation(i)
        )
        self.registry = HelperRegistry(
            store, secret_store, self.tokener, on_change=self._registry_changed
        )
        self.service = SessionService(
            store,
            pending_timeout=settings.pending_timeout,
            persist_seconds=settings.persist_days * 86400.0,
            recipients=self._recipients,
            helper_names=self.registry.helper_names,
            public_key_for=lambda site, account: self.assertion_keys.public_key(site, account),
        )
        self.dispatcher = Dispatcher(
            _DeliveryQueue(store, self.registry),
            self._webhook_secrets,
            on_change=self.service.delivery_changed,
            workers=2,
        )
        self.service.on_event_written(self.dispatcher.wake)
        self.server = ApiServer(self, port=port)
        self.owner_token: IssuedToken | None = None
        # Set by the tray app (called on an API thread); a headless daemon has no UI.
        self.ui_opener: Callable[[], None] | None = None
        self._endpoint_lock = threading.Lock()
        self._running = False

    @classmethod
    def open(
        cls,
        *,
        port: int | None = None,
        require_keyring: bool = False,
        secret_store: SecretStore | None = None,
    ) -> Daemon:
        """Open the daemon for this user's home; raises AlreadyRunning for a second one."""
        endpoint_file = paths.endpoint_path()
        lock = InstanceLock(paths.runtime_dir() / "daemon.lock")
        lock.acquire(endpoint_file)
        store: Store | None = None
        try:
            settings = settings_mod.load()
            secrets = secret_store or open_secret_store(
                paths.data_dir(), require_keyring=require_keyring
            )
            log.info("secrets are kept in %s", secrets.description)
            store = Store(paths.database_path())
            return cls(
                store=store,
                secret_store=secrets,
                settings=settings,
                port=settings.port if port is None else port,
                lock=lock,
                endpoint_file=endpoint_file,
            )
        except BaseException:
            if store is not None:
                store.close()
            lock.release()
            raise

    # -- life cycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.owner_token = self.registry.issue_owner_token()
        self.service.start()
        undelivered = self.store.retry_pending_now(time.time())
        if undelivered:
            log.info("%d event deliveries left from the last run are due now", undelivered)
        self.dispatcher.start()
        self.server.start()
        self._write_endpoint()
        self._running = True
        log.info("sessionmgr %s listening on %s", __version__, self.url)

    def stop(self) -> None:
        """Graceful: requests in flight finish, the store is closed, endpoint.json removed."""
        if self._endpoint_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._endpoint_file.unlink()
        if self._running:
            self.server.stop()
            self.dispatcher.stop()
            self.service.stop()
            self.registry.persist_last_seen()
            self._running = False
        else:
            self.server.server_close()
        self.store.close()
        if self._lock is not None:
            self._lock.release()
        log.info("sessionmgr stopped")

    def _write_endpoint(self) -> None:
        """endpoint.json: how local clients find and authenticate to this daemon (0600)."""
        if self._endpoint_file is None or self.owner_token is None:
            return
        data = {"url": self.url, "pid": os.getpid(), "token": self.owner_token.token}
        with self._endpoint_lock:
            fd, tmp = tempfile.mkstemp(dir=self._endpoint_file.parent, prefix=".endpoint-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self._endpoint_file)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    # -- what the routes call ----------------------------------------------------------

    def openapi_document(self) -> dict[str, Any]:
        return openapi_document()

    def renewal_headers(self, principal: Principal) -> dict[str, str]:
        """authen-style renewal; the owner's renewed token also goes to endpoint.json."""
        assert principal.renewal is not None
        if principal.kind == "owner":
            self.owner_token = principal.renewal
            self._write_endpoint()
        return self.tokener.renewal_headers(principal.renewal)

    def open_ui(self) -> None:
        """``POST /v1/ui/open``: show the tray app's doorhanger (a second launch asks)."""
        opener = self.ui_opener
        if opener is None:
            raise Conflict(
                "this sessionmgr runs headless (sessionmgr serve): there is no tray app to open",
                code="no_tray_app",
            )
        opener()

    def status(self) -> dict[str, Any]:
        helpers = self.registry.list_helpers()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "url": self.url,
            "started_at": self.started_at,
            "secrets": self.secret_store.description,
            "database": str(self.store.db.path),
            "sites": self.service.site_count(),
            "signed_in": len(self.service.signed_in()),
            "helpers": sum(1 for h in helpers if h["status"] == "active"),
            "pending_pairings": sum(
                1 for p in self.registry.list_pairings() if p["status"] == "pending"
            ),
            "undelivered": self.store.count_undelivered(),
        }

    @functools.cached_property
    def assertion_keys(self) -> Any:
        """Ed25519 keys per (site, account); loaded on first use, off the start-up path."""
        from sessionmgr.security import assertions

        return assertions.AssertionKeys(self.secret_store)

    def silent_login(self, site: str, nonce: str | None) -> dict[str, Any]:
        """R11: a fresh assertion for the remembered account, without any UI; else nulls."""
        from sessionmgr.security import assertions

        remembered = self.service.persistent_login(site)
        if remembered is None:
            return {"id": None, "assertion": None}
        account, _expires = remembered
        assertion = assertions.issue_assertion(
            self.assertion_keys,
            site=site,
            account=account,
            now=time.time(),
            ttl=ASSERTION_TTL,
            nonce=nonce,
        )
        return {"id": account, "assertion": assertion}

    def verify_assertion(self, assertion: str, audience: str) -> dict[str, Any]:
        """The Persona verifier answer, for local checks of our own assertions."""
        from sessionmgr.security import assertions

        try:
            site = normalize_site(audience, field="audience")
        except Exception:
            return {"status": "failure", "reason": "audience is not a valid site"}
        try:
            claims = assertions.read_unverified(assertion)
            account = parse_identifier(claims.get("sub"), "sub")
            remembered = self.service.persistent_login(site)
            if remembered is None or remembered[0] != account:
                return {"status": "failure", "reason": "no stay-signed-in login for that account"}
            public_key = self.assertion_keys.public_key(site, account)
            verified = assertions.verify_assertion(
                assertion, audience=site, public_key=public_key, now=time.time()
            )
        except assertions.AssertionInvalid as exc:
            return {"status": "failure", "reason": exc.reason}
        except Exception as exc:  # a malformed claim set is a failed verification, not an error
            return {"status": "failure", "reason": f"malformed assertion ({type(exc).__name__})"}
        return {
            "status": "okay",
            "email": verified.email,
            "audience": verified.audience,
            "expires": verified.expires,
            "issuer": verified.issuer,
        }

    # -- wiring --------------------------------------------------------------------------

    def _recipients(self, site: str) -> list[str]:
        """Helpers that declared the site get its events; if none did, every helper."""
        active = self.registry.active_helpers()
        declared = self.service.helpers_for_site(site)
        chosen = [h for h in active if h in declared]
        return chosen or active

    def _webhook_secrets(self, helper_id: str) -> Sequence[str]:
        return self.registry.webhook_secrets(helper_id)

    def _registry_changed(self, kind: str, key: str) -> None:
        self.service.notify([Change(kind, key)])
