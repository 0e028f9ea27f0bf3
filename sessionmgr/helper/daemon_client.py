"""The helper's side of the daemon's HTTP API (DESIGN.md section 3).

Only the endpoint's URL is read from ``endpoint.json``; the owner token in
the same file is deliberately ignored: a helper acts with its own paired
token, never as the owner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

log = logging.getLogger("sessionmgr.helper.daemon")

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0


class DaemonUnavailable(Exception):
    """No daemon: endpoint.json is missing or unreadable, or nothing answers at its URL."""


class DaemonError(Exception):
    """The daemon answered with an error status; ``code`` is its snake_case error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    url: str
    pid: int | None


def read_endpoint(path: Path) -> Endpoint:
    """The daemon's URL from ``endpoint.json``; raises DaemonUnavailable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DaemonUnavailable(f"sessionmgr is not running ({path} does not exist)") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DaemonUnavailable(f"cannot read {path}: {type(e).__name__}") from None
    url = doc.get("url") if isinstance(doc, dict) else None
    if not isinstance(url, str):
        raise DaemonUnavailable(f"{path} has no url")
    parts = urlsplit(url)
    # Only ever talk to a loopback daemon, whatever the file says.
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise DaemonUnavailable(f"{path} names a non-loopback url")
    pid = doc.get("pid")
    return Endpoint(url=url.rstrip("/"), pid=pid if isinstance(pid, int) else None)


class DaemonClient:
    """One ``requests.Session`` to the daemon, re-reading endpoint.json as needed."""

    def __init__(self, endpoint_path: Path) -> None:
        self.endpoint_path = endpoint_path
        self.endpoint: Endpoint | None = None
        self._http = requests.Session()
        self._http.trust_env = False  # a proxy from the environment must not see loopback calls
        # The daemon renews a token past its renewal interval (X-Auth-Renewal); the
        # owner of the token must keep the new one or lose the pairing at max age.
        self.on_renewal: Callable[[str, str], None] | None = None

    def close(self) -> None:
        self._http.close()

    def discover(self) -> Endpoint:
        """Re-read endpoint.json and check the daemon answers ``/v1/health``."""
        endpoint = read_endpoint(self.endpoint_path)
        self.endpoint = endpoint
        self.request("GET", "/v1/health")
        return endpoint

    def request(
        self, method: str, path: str, *, token: str | None = None, body: Any = None,
        timeout: float = READ_TIMEOUT,
    ) -> Any:
        """One call; returns the decoded JSON (None for an empty answer).

        Raises DaemonUnavailable (nothing answers) or DaemonError (an error status).
        """
        if self.endpoint is None:
            self.endpoint = read_endpoint(self.endpoint_path)
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        try:
            response = self._http.request(
                method, self.endpoint.url + path, data=data, headers=headers,
                timeout=(CONNECT_TIMEOUT, timeout), allow_redirects=False,
            )
        except requests.RequestException as e:
            # The exception text holds only the URL; headers (the token) are not in it.
            raise DaemonUnavailable(f"{method} {path}: {type(e).__name__}") from None
        renewed = response.headers.get("X-Auth-Renewal")
        if renewed and token is not None and self.on_renewal is not None:
            self.on_renewal(token, renewed)
        if response.status_code >= 400:
            code, message = "http_error", response.reason or ""
            try:
                err = response.json().get("error", {})
                code = str(err.get("code", code))
                message = str(err.get("message", message))
            except (ValueError, AttributeError):
                pass
            raise DaemonError(response.status_code, code, message)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise DaemonError(response.status_code, "bad_response", "not JSON") from None

    # ---- the calls the helper makes ----

    def create_pairing(self, name: str, events_url: str, origin: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "events_url": events_url}
        if origin:
            body["origin"] = origin
        return self.request("POST", "/v1/pairings", body=body)

    def poll_pairing(self, pairing_id: str, poll_secret: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/pairings/{quote(pairing_id, safe='')}", token=poll_secret)

    def update_events_url(self, helper_id: str, token: str, events_url: str) -> None:
        self.request("PATCH", f"/v1/helpers/{quote(helper_id, safe='')}", token=token,
                     body={"events_url": events_url})

    def put_declaration(self, site: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/v1/sites/{quote(site, safe='')}/declaration",
                            token=token, body=body)

    def get_site(self, site: str, token: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/sites/{quote(site, safe='')}", token=token)

    def put_focus(self, site: str | None, token: str) -> dict[str, Any]:
        return self.request("PUT", "/v1/focus", token=token, body={"site": site})

    def silent_login(self, site: str, token: str, nonce: str | None) -> dict[str, Any]:
        return self.request("POST", f"/v1/sites/{quote(site, safe='')}/silent-login",
                            token=token, body={"nonce": nonce})
