"""``sessionmgr-helper``: the native-messaging host between the WebExtension and the daemon.

The browser starts one process per ``connectNative`` and talks to it over
stdin/stdout (see :mod:`framing`). Three threads:

- the main thread reads the extension's messages and queues them;
- one worker owns every call to the daemon, in order: pairing, declarations
  (the latest per site, re-sent after the daemon comes back), focus
  (``PUT /v1/focus``, which leaves pending actions alone) and silent logins;
- a small HTTP server on 127.0.0.1 receives the daemon's signed webhooks and
  relays each event to the extension before answering 2xx.

Nothing here logs a token, a poll secret or a webhook secret.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import logging.handlers
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sessionmgr import paths
from sessionmgr.events.webhooks import WebhookRejected, WebhookVerifier
from sessionmgr.helper.daemon_client import DaemonClient, DaemonError, DaemonUnavailable
from sessionmgr.helper.framing import FrameReader, FrameWriter, MessageTooLarge
from sessionmgr.security.secrets import SecretStore, SecretStoreError, open_secret_store

log = logging.getLogger("sessionmgr.helper")

EVENTS_PATH = "/v1/events"
MAX_WEBHOOK_BODY = 64 * 1024
MAX_SITES = 500
MAX_COOKIES = 1000
POLL_INTERVAL = 0.5  # pairing status, while the person compares codes
HEALTH_INTERVAL = 1.0  # how often endpoint.json is re-read while the daemon is up
RETRY_MIN, RETRY_MAX = 0.2, 2.0  # looking for a daemon that is down
SECRET_SERVICE = "sessionmgr-helper"  # noqa: S105 (a keyring service name)


# ---------------------------------------------------------------- credentials


class Credentials:
    """This helper's pairing, kept in the SecretStore under names unique to the
    extension origin and the data dir (several browsers or homes never clash)."""

    FIELDS = ("helper_id", "token", "webhook_secret")

    def __init__(self, store: SecretStore, scope: str) -> None:
        self._store = store
        self._prefix = f"helper:{scope}:"

    def load(self) -> dict[str, str] | None:
        values = {f: self._store.get(self._prefix + f) for f in self.FIELDS}
        if all(values.values()):
            return values  # type: ignore[return-value]
        return None

    def save(self, values: dict[str, str]) -> None:
        for f in self.FIELDS:
            self._store.set(self._prefix + f, values[f])

    def forget(self) -> None:
        for f in (*self.FIELDS, "pairing"):
            self._store.delete(self._prefix + f)

    def load_pairing(self) -> dict[str, str] | None:
        raw = self._store.get(self._prefix + "pairing")
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def save_pairing(self, pairing: dict[str, str] | None) -> None:
        if pairing is None:
            self._store.delete(self._prefix + "pairing")
        else:
            self._store.set(self._prefix + "pairing", json.dumps(pairing))


def scope_for(caller: str) -> str:
    """A stable, short name for (calling extension, data dir)."""
    raw = f"{caller}|{paths.data_dir()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- validation


def declaration_body(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The site and PUT body of a ``declaration`` message, or None if it is malformed.

    The extension validated the sessions already; this only checks the shape,
    the daemon checks the values.
    """
    site = message.get("site")
    sessions = message.get("sessions")
    cookies = message.get("cookies", [])
    focused = message.get("focused", False)
    if not isinstance(site, str) or not 0 < len(site) <= 253:
        return None
    if sessions is not None and not isinstance(sessions, list):
        return None
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        return None
    if not isinstance(focused, bool):
        return None
    body: dict[str, Any] = {
        "sessions": sessions,
        "cookies": sorted(set(cookies))[:MAX_COOKIES],
        "focused": focused,
    }
    if message.get("api") == "login-status":
        body["api"] = "login-status"
    return site, body


# ---------------------------------------------------------------- webhooks


class _EventsServer(ThreadingHTTPServer):
    daemon_threads = True
    helper: Helper


class _EventsHandler(BaseHTTPRequestHandler):
    server: _EventsServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive answer waits ~40 ms
    server_version = "sessionmgr-helper"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("events server: " + format, *args)

    def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        # Answering before reading a body leaves it in the socket: close.
        self.close_connection = True
        self._answer(status, {"error": {"code": code, "message": message}})

    def do_POST(self) -> None:
        port = self.server.server_address[1]
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0] not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return self._error(421, "misdirected", "wrong Host")
        if self.path != EVENTS_PATH:
            return self._error(404, "not_found", "unknown path")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._error(411, "length_required", "Content-Length needed")
        if not 0 <= length <= MAX_WEBHOOK_BODY:
            return self._error(413, "too_large", "body too large")
        body = self.rfile.read(length)
        status, answer = self.server.helper.receive_webhook(dict(self.headers.items()), body)
        self._answer(status, answer)

    def do_GET(self) -> None:
        self._error(405, "method_not_allowed", "POST only")

    do_PUT = do_PATCH = do_DELETE = do_GET


# ---------------------------------------------------------------- the helper


class Helper:
    """State and logic of one host process; the threads call into it."""

    def __init__(
        self,
        writer: FrameWriter,
        client: DaemonClient,
        credentials: Credentials,
        *,
        name: str,
        origin: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.client = client
        self.client.on_renewal = self._adopt_renewal
        self.credentials = credentials
        self.name = name
        self.origin = origin
        self.clock = clock
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stopping = threading.Event()
        # Worker-thread state.
        self.latest: dict[str, dict[str, Any]] = {}
        self.dirty: dict[str, str] = {}  # site -> "hard" (new) or "soft" (re-send unless pending)
        self.seqs: dict[str, int | None] = {}  # site -> the extension's number for latest
        self.focus: tuple[str | None] | None = None  # (site,) still to report; None: nothing
        self.daemon_up = False
        self.endpoint_seen: tuple[str, int | None] | None = None
        self.next_check = 0.0
        self.retry_delay = RETRY_MIN
        self.creds: dict[str, str] | None = None
        self.pairing: dict[str, Any] | None = None
        self.auto_pair = True  # once per process; afterwards only on request
        self.next_poll = 0.0
        self.flush_after = 0.0
        self.last_status: dict[str, Any] | None = None
        self.error: str | None = None
        self._verifier: WebhookVerifier | None = None
        self._verifier_lock = threading.Lock()
        self.server: _EventsServer | None = None
        self.events_url = ""

    # ---- lifecycle

    def _adopt_renewal(self, used: str, renewed: str) -> None:
        """Keep the daemon's renewal of our token, in memory and in the secret store."""
        creds = self.creds
        if creds is None or creds.get("token") != used:
            return
        self.creds = {**creds, "token": renewed}
        self.credentials.save(self.creds)
        log.info("helper token renewed")

    def start_server(self) -> None:
        server = _EventsServer(("127.0.0.1", 0), _EventsHandler)
        server.helper = self
        self.server = server
        self.events_url = f"http://127.0.0.1:{server.server_address[1]}{EVENTS_PATH}"
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="helper-events",
            daemon=True,
        ).start()
        log.info("events endpoint at %s", self.events_url)

    def stop(self) -> None:
        self.stopping.set()
        self.inbox.put(("stop", None))
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def send(self, message: dict[str, Any]) -> bool:
        """To the extension; False if the browser is gone (then the host stops)."""
        try:
            self.writer.send(message)
            return True
        except MessageTooLarge as e:
            log.warning("not sending a %s message: %s", message.get("type"), e)
            return False
        except (OSError, ValueError) as e:
            log.info("the browser closed the pipe (%s); stopping", type(e).__name__)
            self.stopping.set()
            self.inbox.put(("stop", None))
            return False

    # ---- the worker

    def run_worker(self) -> None:
        try:
            self._load_credentials()
        except SecretStoreError as e:
            self.error = str(e)
            log.error("secret store unusable: %s", e)
        self.send_status()
        while not self.stopping.is_set():
            try:
                kind, payload = self.inbox.get(timeout=self._wait_time())
                self._handle_safely(kind, payload)
                while True:  # take everything queued before calling the daemon
                    kind, payload = self.inbox.get_nowait()
                    self._handle_safely(kind, payload)
            except queue.Empty:
                pass
            if self.stopping.is_set():
                break
            try:
                self._tick()
            except Exception:
                log.exception("unexpected error in the helper worker")
                time.sleep(0.5)

    def _wait_time(self) -> float:
        now = self.clock()
        wake = self.next_check
        if self.pairing and self.pairing.get("status") == "pending" and self.daemon_up:
            wake = min(wake, self.next_poll)
        if self.daemon_up and self.creds and (self.dirty or self.focus is not None):
            wake = min(wake, self.flush_after)
        return max(0.0, min(wake - now, 5.0))

    def _load_credentials(self) -> None:
        self.creds = self.credentials.load()
        if self.creds:
            self._set_verifier(self.creds["webhook_secret"])
            log.info("paired as helper %s", self.creds["helper_id"])
        else:
            saved = self.credentials.load_pairing()
            if saved and all(isinstance(saved.get(k), str) for k in ("id", "code", "poll_secret")):
                self.pairing = {**saved, "status": "pending"}
                log.info("resuming pairing request %s", saved["id"])

    def _set_verifier(self, secret: str) -> None:
        try:
            verifier = WebhookVerifier([secret], tolerance=300)
        except ValueError as e:
            log.error("stored webhook secret is unusable: %s", e)
            verifier = None
        with self._verifier_lock:
            self._verifier = verifier

    def _handle_safely(self, kind: str, payload: Any) -> None:
        try:
            self._handle(kind, payload)
        except Exception:
            # One odd message must not take the worker (and every later message) down.
            log.exception("could not handle a %s message", kind)

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "stop":
            return
        if kind != "message":
            return
        message: dict[str, Any] = payload
        mtype = message.get("type")
        if mtype == "declaration":
            parsed = declaration_body(message)
            if parsed is None:
                log.warning("ignoring a malformed declaration message")
                return
            site, body = parsed
            if body["focused"]:
                for other in self.latest.values():
                    other["focused"] = False
            self.latest.pop(site, None)
            self.latest[site] = body
            seq = message.get("seq")
            self.seqs[site] = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
            while len(self.latest) > MAX_SITES:
                dropped = next(iter(self.latest))
                del self.latest[dropped]
                self.dirty.pop(dropped, None)
                self.seqs.pop(dropped, None)
            if message.get("replay") is True:
                self.dirty.setdefault(site, "soft")
            else:
                self.dirty[site] = "hard"
        elif mtype == "focus":
            focused = message.get("site")
            if focused is not None and not (isinstance(focused, str) and 0 < len(focused) <= 253):
                log.warning("ignoring a malformed focus message")
                return
            for name, known in self.latest.items():
                known["focused"] = name == focused
            # Reported on its own: a re-sent declaration would clear a pending action (R10).
            self.focus = (focused,)
        elif mtype == "silent-login":
            self._silent_login(message)
        elif mtype == "pair":
            if not self.creds and not (self.pairing and self.pairing.get("status") == "pending"):
                self.pairing = None
                self.auto_pair = True
                self.next_check = 0.0
        elif mtype == "hello":
            log.info("extension %s version %s connected",
                     str(message.get("extension_id"))[:64], str(message.get("version"))[:32])
            self.send_status(force=True)
        elif mtype == "event_result":
            log.info("event %s %s", str(message.get("id"))[:64],
                     "dispatched" if message.get("delivered") else "not dispatched: "
                     + str(message.get("reason"))[:200])
        else:
            log.debug("ignoring message type %r", str(mtype)[:64])

    def _tick(self) -> None:
        now = self.clock()
        if now >= self.next_check:
            self._check_daemon()
        if not self.daemon_up:
            return
        if not self.creds:
            self._pairing_step()
        if self.creds and self.dirty and self.clock() >= self.flush_after:
            self._flush()
        if self.creds and self.focus is not None and self.daemon_up:
            self._send_focus()

    # ---- daemon discovery

    def _check_daemon(self) -> None:
        """Notice the daemon going away or (re)appearing, also at a new port."""
        now = self.clock()
        try:
            endpoint = self.client.discover()
        except (DaemonUnavailable, DaemonError) as e:
            self._daemon_down(str(e))
            return
        seen = (endpoint.url, endpoint.pid)
        self.next_check = now + HEALTH_INTERVAL
        if self.daemon_up and seen == self.endpoint_seen:
            return
        log.info("sessionmgr is up at %s", endpoint.url)
        self.daemon_up = True
        self.endpoint_seen = seen
        self.retry_delay = RETRY_MIN
        self.error = None
        self._on_daemon_up()
        self.send_status()

    def _daemon_down(self, why: str) -> None:
        """Remember the daemon is gone and look again soon, backing off up to RETRY_MAX."""
        if self.daemon_up:
            log.info("sessionmgr is not reachable: %s", why)
        self.daemon_up = False
        self.endpoint_seen = None
        self.error = why
        self.next_check = self.clock() + self.retry_delay
        self.retry_delay = min(self.retry_delay * 2, RETRY_MAX)
        self.send_status()

    def _on_daemon_up(self) -> None:
        if self.creds:
            try:
                self.client.update_events_url(self.creds["helper_id"], self.creds["token"],
                                              self.events_url)
            except DaemonUnavailable as e:
                self._daemon_down(str(e))
                return
            except DaemonError as e:
                if e.status in (401, 403, 404):
                    self._lost_pairing(e)
                    return
                log.warning("could not update the events url: %s", e)
        # A new daemon process may have lost or never seen what was declared.
        for site in self.latest:
            self.dirty.setdefault(site, "soft")

    def _lost_pairing(self, e: DaemonError) -> None:
        log.warning("the daemon no longer accepts this helper (%s %s); pairing is needed",
                    e.status, e.code)
        self.creds = None
        self._set_verifier_none()
        try:
            self.credentials.forget()
        except SecretStoreError as err:
            log.error("cannot forget the old pairing: %s", err)
        self.auto_pair = False  # revoked on purpose, most likely: wait for the popup's button
        self.pairing = None
        self.send_status()

    def _set_verifier_none(self) -> None:
        with self._verifier_lock:
            self._verifier = None

    # ---- pairing

    def _pairing_step(self) -> None:
        now = self.clock()
        if self.pairing is None or self.pairing.get("status") != "pending":
            if not self.auto_pair:
                return
            self.auto_pair = False
            self._start_pairing()
            return
        if now < self.next_poll:
            return
        self.next_poll = now + POLL_INTERVAL
        try:
            answer = self.client.poll_pairing(self.pairing["id"], self.pairing["poll_secret"])
        except DaemonUnavailable as e:
            self._daemon_down(str(e))
            return
        except DaemonError as e:
            if e.status in (401, 404):  # the daemon forgot it (restart) or never had it
                log.info("pairing request %s is gone (%s)", self.pairing["id"], e.status)
                self._end_pairing("expired")
            else:
                log.warning("polling the pairing failed: %s", e)
            return
        status = answer.get("status") if isinstance(answer, dict) else None
        if status == "approved":
            values = {f: answer.get(f) for f in Credentials.FIELDS}
            if not all(isinstance(v, str) and v for v in values.values()):
                log.error("approved pairing lacks credentials")
                self._end_pairing("failed")
                return
            try:
                self.credentials.save(values)  # type: ignore[arg-type]
            except SecretStoreError as e:
                log.error("cannot store the pairing: %s", e)
                self.error = str(e)
            self.creds = values  # type: ignore[assignment]
            self._set_verifier(values["webhook_secret"])  # type: ignore[arg-type]
            log.info("pairing approved; helper %s", values["helper_id"])
            self._end_pairing("approved")
            self._on_daemon_up()
        elif status in ("rejected", "expired"):
            log.info("pairing request %s %s", self.pairing["id"], status)
            self._end_pairing(status)

    def _start_pairing(self) -> None:
        try:
            answer = self.client.create_pairing(self.name, self.events_url, self.origin)
        except DaemonUnavailable as e:
            self.auto_pair = True
            self._daemon_down(str(e))
            return
        except DaemonError as e:
            log.warning("cannot start pairing: %s", e)
            self.pairing = {"status": "failed", "error": e.code}
            self.send_status()
            return
        if not isinstance(answer, dict) or not all(
            isinstance(answer.get(k), str) for k in ("id", "code", "poll_secret")
        ):
            log.error("the daemon's pairing answer is malformed")
            return
        saved = {k: answer[k] for k in ("id", "code", "poll_secret")}
        self.pairing = {**saved, "status": "pending"}
        try:
            self.credentials.save_pairing(saved)
        except SecretStoreError as e:
            log.warning("cannot keep the pairing request across restarts: %s", e)
        self.next_poll = self.clock() + POLL_INTERVAL
        log.info("pairing request %s started; waiting for approval", answer["id"])
        self.send_status()

    def _end_pairing(self, status: str) -> None:
        assert self.pairing is not None
        self.pairing = {"status": status, "code": self.pairing.get("code")}
        with contextlib.suppress(SecretStoreError):
            self.credentials.save_pairing(None)
        self.send_status()

    # ---- declarations

    def _flush(self) -> None:
        assert self.creds is not None
        for site in list(self.dirty):
            if self.stopping.is_set() or not self.daemon_up or not self.creds:
                return
            mode = self.dirty[site]
            body = self.latest.get(site)
            if body is None:
                del self.dirty[site]
                continue
            token = self.creds["token"]
            try:
                if mode == "soft":
                    # A replay (after a reconnect or a daemon restart) must not
                    # clear a pending login/logout (R10): only the page's own
                    # next declaration may. Focus never comes this way.
                    try:
                        current = self.client.get_site(site, token)
                    except DaemonError as e:
                        if e.status != 404:
                            raise
                        current = None
                    if isinstance(current, dict) and current.get("pending"):
                        del self.dirty[site]
                        self._send_state(site, current)
                        continue
                state = self.client.put_declaration(site, token, body)
            except DaemonUnavailable as e:
                self._daemon_down(str(e))
                return
            except DaemonError as e:
                if e.status in (401, 403):
                    self._lost_pairing(e)
                    return
                if e.status >= 500 or e.status == 429:
                    log.warning("declaration for a site failed (%s); retrying", e.status)
                    self.flush_after = self.clock() + 1.0
                    return
                log.warning("the daemon refused a declaration: %s", e)
                if self.dirty.get(site) == mode:
                    del self.dirty[site]
                continue
            if self.dirty.get(site) == mode:
                del self.dirty[site]
            self._send_state(site, state)

    def _send_focus(self) -> None:
        assert self.creds is not None and self.focus is not None
        (site,) = self.focus
        try:
            self.client.put_focus(site, self.creds["token"])
        except DaemonUnavailable as e:
            self._daemon_down(str(e))
            return
        except DaemonError as e:
            if e.status in (401, 403):
                self._lost_pairing(e)
                return
            if e.status >= 500 or e.status == 429:
                return  # kept: tried again on the next tick
            log.warning("the daemon refused a focus change: %s", e)
        if self.focus == (site,):
            self.focus = None

    # ---- silent login (seed 001)

    def _silent_login(self, message: dict[str, Any]) -> None:
        """Ask the daemon for the site's "stay signed in" assertion; always answer the tab.

        Only the site (from the tab's URL, checked by the extension) and the
        nonce are passed on; the daemon decides whether there is an assertion.
        """
        rid = message.get("rid")
        site = message.get("site")
        nonce = message.get("nonce")
        answer: dict[str, Any] = {"type": "silent-result", "rid": rid, "id": None,
                                  "assertion": None}
        if not isinstance(rid, int) or isinstance(rid, bool):
            log.warning("ignoring a silent-login message without a request number")
            return
        if not (isinstance(site, str) and 0 < len(site) <= 253) or not (
            nonce is None or (isinstance(nonce, str) and 0 < len(nonce) <= 256)
        ):
            self.send({**answer, "error": "bad_request"})
            return
        if not self.daemon_up:
            self._check_daemon()
        if not self.daemon_up or not self.creds:
            self.send({**answer, "error": "not_paired" if self.daemon_up else "daemon_down"})
            return
        try:
            result = self.client.silent_login(site, self.creds["token"], nonce)
        except DaemonUnavailable as e:
            self._daemon_down(str(e))
            self.send({**answer, "error": "daemon_down"})
            return
        except DaemonError as e:
            if e.status in (401, 403):
                self._lost_pairing(e)
            self.send({**answer, "error": e.code})
            return
        if (
            isinstance(result, dict)
            and isinstance(result.get("id"), str)
            and isinstance(result.get("assertion"), str)
        ):
            answer["id"], answer["assertion"] = result["id"], result["assertion"]
        self.send(answer)

    def _send_state(self, site: str, state: Any) -> None:
        """The daemon's view of ``site``; ``seq`` tells the extension which declaration it has."""
        self.send({"type": "site_state", "site": site, "state": state,
                   "seq": self.seqs.get(site)})

    # ---- status

    def status(self) -> dict[str, Any]:
        pairing = None
        if self.pairing:
            pairing = {"status": self.pairing.get("status"), "code": self.pairing.get("code")}
        return {
            "type": "status",
            "daemon": "up" if self.daemon_up else "down",
            "paired": self.creds is not None,
            "pairing": pairing,
            "unsent": len(self.dirty),
            "error": self.error,
        }

    def send_status(self, *, force: bool = False) -> None:
        status = self.status()
        if force or status != self.last_status:
            self.last_status = status
            self.send(status)

    # ---- webhooks (events-server threads)

    def receive_webhook(self, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self._verifier_lock:
            verifier = self._verifier
        if verifier is None:
            return 503, {"error": {"code": "not_paired", "message": "helper not paired"}}
        try:
            event = verifier.verify(headers, body)
        except WebhookRejected as e:
            if e.reason == "duplicate":
                return 200, {"status": "duplicate"}  # handled before: at least once
            log.warning("rejected a webhook: %s", e.reason)
            return 401, {"error": {"code": e.reason, "message": "webhook rejected"}}
        if event.get("type") not in ("login", "logout") or not isinstance(event.get("site"), str):
            log.warning("ignoring a webhook that is not a login/logout event")
            return 200, {"status": "ignored"}
        log.info("relaying %s event %s", event["type"], str(event.get("id"))[:64])
        if not self.send({"type": "event", "event": event}):
            return 503, {"error": {"code": "browser_gone", "message": "browser unavailable"}}
        return 200, {"status": "relayed"}


# ---------------------------------------------------------------- entry point


def parse_caller(argv: list[str]) -> tuple[str | None, str, str]:
    """(extension origin, browser name, caller id) from what the browser passes.

    Chromium passes ``chrome-extension://ID/`` (plus ``--parent-window=N`` on
    Windows); Firefox passes the manifest path and the add-on id. Firefox's
    extension origin is a random per-profile UUID the host cannot know, so
    its pairing carries no origin.
    """
    for arg in argv:
        if arg.startswith("chrome-extension://"):
            origin = arg.rstrip("/")
            return origin, "Chromium", origin
    if len(argv) >= 2 and "@" in argv[1]:
        return None, "Firefox", argv[1]
    return None, "Browser", "unknown"


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger("sessionmgr")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    try:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            paths.log_dir() / "helper.log", maxBytes=1_000_000, backupCount=2, encoding="utf-8",
        )
    except OSError:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    # The browser shows a host's stderr in its own log: problems only.
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    err.setFormatter(logging.Formatter("sessionmgr-helper: %(levelname)s %(message)s"))
    root.addHandler(err)


def main(argv: list[str] | None = None) -> int:
    """Run the host on stdin/stdout until the browser closes the pipe."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="sessionmgr-helper", add_help=True)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("caller", nargs="*", help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args(args_list)
    if sys.stdin.isatty() and not args.caller:
        print("sessionmgr-helper is started by the browser (native messaging); "
              "run `sessionmgr install-browser-helper` to register it.", file=sys.stderr)
        return 2
    setup_logging(args.verbose)
    origin, browser, caller = parse_caller(args.caller)
    log.info("starting for %s (%s)", browser, origin or "no origin")
    writer = FrameWriter(sys.stdout.buffer)
    sys.stdout = sys.stderr  # a stray print() must never corrupt the frame stream
    try:
        store = open_secret_store(paths.data_dir() / "helper", service=SECRET_SERVICE)
    except SecretStoreError as e:
        log.error("no secret store: %s", e)
        writer.send({"type": "status", "daemon": "down", "paired": False, "pairing": None,
                     "unsent": 0, "error": str(e)})
        return 1
    client = DaemonClient(paths.endpoint_path())
    helper = Helper(
        writer, client, Credentials(store, scope_for(caller)),
        name=f"{browser} on {socket.gethostname()}", origin=origin,
    )
    helper.start_server()
    worker = threading.Thread(target=helper.run_worker, name="helper-worker", daemon=True)
    worker.start()
    reader = FrameReader(sys.stdin.buffer)
    try:
        for message in reader:
            if helper.stopping.is_set():
                break
            helper.inbox.put(("message", message))
    except OSError as e:
        log.info("stdin failed: %s", type(e).__name__)
    except KeyboardInterrupt:
        pass
    finally:
        log.info("browser disconnected; exiting")
        helper.stop()
        worker.join(timeout=5)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
