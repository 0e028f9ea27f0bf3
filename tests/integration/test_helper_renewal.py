"""A paired helper keeps the daemon's renewal of its token (authen's X-Auth-Renewal)."""

from __future__ import annotations

import io
import time

from sessionmgr.daemon import API_KEYS
from sessionmgr.helper.daemon_client import DaemonClient
from sessionmgr.helper.framing import FrameWriter
from sessionmgr.helper.host import Credentials, Helper
from sessionmgr.security.secrets import FileSecretStore, MemorySecretStore
from sessionmgr.security.tokens import KeySet, Tokener
from tests.conftest import DaemonProcess

DAY = 86400.0


def test_an_old_helper_token_is_renewed_and_the_renewal_is_kept(daemon: DaemonProcess) -> None:
    ticket = daemon.request(
        "POST", "/v1/pairings", token=None, json={"name": "h", "events_url": "http://127.0.0.1:9/e"}
    ).json()
    daemon.request("POST", f"/v1/pairings/{ticket['id']}/approve", json={})
    paired = daemon.request(
        "GET", f"/v1/pairings/{ticket['id']}", token=ticket["poll_secret"]
    ).json()
    # A token for this helper issued eight days ago, signed with the daemon's own keys.
    keys = KeySet.load(FileSecretStore(daemon.home / "secrets.json"), API_KEYS, now=time.time())
    old = Tokener(keys, "api-token", clock=lambda: time.time() - 8 * DAY)
    old_token = old.issue(f"helper:{paired['helper_id']}").token

    store = MemorySecretStore()
    credentials = Credentials(store, "scope")
    credentials.save(
        {
            "helper_id": paired["helper_id"],
            "token": old_token,
            "webhook_secret": paired["webhook_secret"],
        }
    )
    client = DaemonClient(daemon.home / "endpoint.json")
    helper = Helper(FrameWriter(io.BytesIO()), client, credentials, name="h", origin=None)
    try:
        helper._load_credentials()
        client.put_declaration(
            "example.com", old_token, {"sessions": [], "cookies": [], "focused": False}
        )
        assert helper.creds is not None
        renewed = helper.creds["token"]
        assert renewed != old_token
        assert credentials.load() == {**helper.creds}
        assert daemon.request("GET", "/v1/sites", token=renewed).status_code == 200
        # A token inside its renewal interval is not renewed again.
        client.get_site("example.com", renewed)
        assert helper.creds["token"] == renewed
    finally:
        client.close()
