"""The secret store against a real Secret Service: gnome-keyring on a private session bus.

The shared SecretStore contract also runs against it (tests/unit/test_secrets.py,
parameter "keyring"); these are the things only a real keyring can show.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

import keyring
import keyring.core
import pytest
import secretstorage
from keyring.backend import KeyringBackend

from sessionmgr.security.assertions import AssertionKeys, issue_assertion, verify_assertion
from sessionmgr.security.secrets import (
    KeyringSecretStore,
    SecretStoreUnavailable,
    open_secret_store,
)
from sessionmgr.security.tokens import KeySet, Tokener
from tests.keyring_env import (
    SecretServiceEnv,
    keyring_backend,
    running_secret_service,
    secret_service_env_fixture,  # noqa: F401
    secret_service_fixture,  # noqa: F401
)

pytestmark = pytest.mark.keyring

SERVICE = "sessionmgr-test"


def _items(service: str) -> list[tuple[dict[str, str], bytes]]:
    """What the Secret Service itself holds (attributes, secret), read without keyring."""
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        return [(i.get_attributes(), i.get_secret()) for i in collection.search_items(
            {"service": service})]
    finally:
        conn.close()


def test_open_picks_the_real_keyring_and_leaves_no_probe_behind(
    secret_service: KeyringBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    with caplog.at_level(logging.INFO, logger="sessionmgr.security"):
        store = open_secret_store(tmp_path, require_keyring=True, service=SERVICE)
    assert isinstance(store, KeyringSecretStore)
    assert store.description == "keyring (SecretService)"
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    assert "keyring (SecretService)" in caplog.text
    assert _items(SERVICE) == []  # the probe deleted itself
    assert not (tmp_path / "secrets.json").exists()


def test_keyring_chooses_secret_service_by_itself(
    secret_service_env: SecretServiceEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No backend forced: keyring's own choice on a desktop with a Secret Service is used."""
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no keyringrc.cfg
    previous = keyring.get_keyring()
    try:
        keyring.core.init_backend()
        store = open_secret_store(tmp_path, service=SERVICE)
        assert store.kind == "keyring"
        assert "SecretService" in store.description
    finally:
        keyring.set_keyring(previous)


def test_secrets_really_live_in_the_secret_service(secret_service: KeyringBackend) -> None:
    store = KeyringSecretStore(SERVICE, timeout=10.0)
    store.set("api-signing-keys", "value-1")
    [(attributes, secret)] = _items(SERVICE)
    assert attributes["username"] == "api-signing-keys"
    assert secret == b"value-1"
    store.delete("api-signing-keys")
    assert _items(SERVICE) == []


# keyring's SecretService backend does not close its D-Bus connection when it finds the
# collection locked; that socket's ResourceWarning is keyring's, not ours.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_locked_keyring_is_unavailable_not_a_hang(secret_service: KeyringBackend) -> None:
    store = KeyringSecretStore(SERVICE, timeout=10.0)
    store.set("k", "v")
    conn = secretstorage.dbus_init()
    try:
        secretstorage.get_default_collection(conn).lock()
    finally:
        conn.close()
    with pytest.raises(SecretStoreUnavailable, match=r"locked|did not answer") as info:
        store.get("k")
    del info
    gc.collect()  # release keyring's leaked connection while this test's filter applies


def test_secrets_survive_a_restart_of_the_secret_service(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path_factory.mktemp("ss")
    store_keys: list[str] = []
    with running_secret_service(base) as env, keyring_backend(_secret_service_backend()):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env.address)
        store = KeyringSecretStore(SERVICE, timeout=10.0)
        keys = KeySet.load(store, "api-signing-keys", now=1000.0)
        token = Tokener(keys, "api-token", clock=lambda: 1000.0).issue("owner").token
        store_keys = keys.kids
        assertion_keys = AssertionKeys(store)
        public = assertion_keys.public_key("example.com", "me")
    with running_secret_service(base) as env, keyring_backend(_secret_service_backend()):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env.address)
        store = KeyringSecretStore(SERVICE, timeout=10.0)
        again = KeySet.load(store, "api-signing-keys", now=2000.0)
        assert again.kids == store_keys
        assert Tokener(again, "api-token", clock=lambda: 1001.0).verify(token).identity == "owner"
        assertion = issue_assertion(AssertionKeys(store), site="example.com", account="me",
                                    now=1000.0)
        verify_assertion(assertion, audience="example.com", public_key=public, now=1000.0)


def _secret_service_backend() -> KeyringBackend:
    from keyring.backends import SecretService

    return SecretService.Keyring()


def test_the_fixture_leaves_nothing_running(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_secret_service(tmp_path_factory.mktemp("ss")) as env:
        pids = (env.bus.pid, env.keyring_daemon.pid)
        assert env.bus.poll() is None and env.keyring_daemon.poll() is None
    assert env.bus.poll() is not None and env.keyring_daemon.poll() is not None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
