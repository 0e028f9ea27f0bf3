"""SecretStore: one contract for every backend, then what each backend adds.

The contract runs against memory, the file store and a real Secret Service
(gnome-keyring on a private bus, marked ``keyring``). Keyring failure modes
use keyring's own fail backend and tiny in-test backends at the edge we
cannot otherwise reach (a backend that hangs, one that lies).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail
from keyring.errors import KeyringLocked, PasswordDeleteError

from sessionmgr.security.secrets import (
    FileSecretStore,
    KeyringSecretStore,
    MemorySecretStore,
    SecretStore,
    SecretStoreError,
    SecretStoreUnavailable,
    open_secret_store,
    unusable_backend_reason,
)
from tests.keyring_env import (  # the fixtures serve the "keyring" parameter
    keyring_backend,
    secret_service_env_fixture,  # noqa: F401
    secret_service_fixture,  # noqa: F401
)

SECRET = "s3cr3t-value-that-must-not-leak"


# --- in-test keyring backends (priority < 0: keyring never picks them on its own) ---


class DictBackend(KeyringBackend):
    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.data.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class BlockingBackend(DictBackend):
    """get_password hangs like a Secret Service waiting on an unlock prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.entered.set()
        self.release.wait()
        return super().get_password(service, username)


class LyingBackend(DictBackend):
    def get_password(self, service: str, username: str) -> str | None:
        return "not what you wrote"


class LockedBackend(DictBackend):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("locked")


class LeakyBackend(DictBackend):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"could not store {password}")


class PlaintextKeyring(DictBackend):
    """Stands in for keyrings.alt's plaintext file backend (same name, same module)."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class EmptyChainer(chainer.ChainerBackend):
    backends = []  # type: ignore[assignment]


@pytest.fixture
def blocking() -> Iterator[BlockingBackend]:
    backend = BlockingBackend()
    yield backend
    backend.release.set()


@pytest.fixture
def fail_keyring() -> Iterator[KeyringBackend]:
    with keyring_backend(fail.Keyring()) as backend:
        yield backend


# --- the contract ---


@pytest.fixture(
    params=["memory", "file", pytest.param("keyring", marks=pytest.mark.keyring)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SecretStore:
    if request.param == "memory":
        return MemorySecretStore()
    if request.param == "file":
        return FileSecretStore(tmp_path / "data" / "secrets.json")
    backend = request.getfixturevalue("secret_service")
    return KeyringSecretStore("sessionmgr-test", timeout=10.0, backend=backend)



def test_contract_is_a_secret_store(store: SecretStore) -> None:
    assert isinstance(store, SecretStore)
    assert store.kind in ("memory", "file", "keyring")
    assert store.description.startswith(store.kind)


def test_contract_missing_is_none(store: SecretStore) -> None:
    assert store.get("never-set") is None


def test_contract_round_trip_and_overwrite(store: SecretStore) -> None:
    store.set("api-key", "one")
    assert store.get("api-key") == "one"
    store.set("api-key", "two")
    assert store.get("api-key") == "two"


@pytest.mark.parametrize(
    "value",
    ["", " ", "ünïcødé ✓ 🔑", "line\nbreak\ttab", "x" * 4096, '{"json": ["looking"]}'],
    ids=["empty", "space", "unicode", "control", "4k", "json"],
)
def test_contract_values_come_back_exactly(store: SecretStore, value: str) -> None:
    store.set("v", value)
    assert store.get("v") == value


def test_contract_names_are_independent(store: SecretStore) -> None:
    names = ["a", "ab", "a:b", "assertion-key:example.com:me@example.com", "Ä"]
    for i, name in enumerate(names):
        store.set(name, f"value-{i}")
    assert [store.get(n) for n in names] == [f"value-{i}" for i in range(len(names))]
    store.delete("a")
    assert store.get("a") is None
    assert store.get("ab") == "value-1"


def test_contract_delete_and_delete_missing(store: SecretStore) -> None:
    store.set("gone", "soon")
    store.delete("gone")
    assert store.get("gone") is None
    store.delete("gone")  # again: fine
    store.delete("never-existed")


@pytest.mark.parametrize("name", ["", "new\nline", "nul\x00", "c1\x85", "lone\ud800"])
def test_contract_rejects_bad_names(store: SecretStore, name: str) -> None:
    with pytest.raises(ValueError):
        store.set(name, "v")
    with pytest.raises(ValueError):
        store.get(name)


def test_contract_concurrent_writers_lose_nothing(store: SecretStore) -> None:
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(8):
                store.set(f"t{t}-{i}", f"{t}/{i}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(store.get(f"t{t}-{i}") == f"{t}/{i}" for t in range(6) for i in range(8))


def test_contract_repr_never_shows_a_value(store: SecretStore) -> None:
    store.set("k", SECRET)
    assert SECRET not in repr(store)
    assert SECRET not in store.description


# --- file store ---


def test_file_store_modes(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "nested" / "secrets.json"
    s = FileSecretStore(path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    s.set("k", "v")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    s.set("k2", "v2")  # replaced file keeps the mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secrets.json"]  # no temp files left


def test_file_store_tightens_an_open_directory_and_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = tmp_path / "open"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    FileSecretStore(d / "secrets.json").set("k", "v")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    (d / "secrets.json").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="sessionmgr.security"):
        assert FileSecretStore(d / "secrets.json").get("k") == "v"
    assert stat.S_IMODE((d / "secrets.json").stat().st_mode) == 0o600
    assert "readable by others" in caplog.text


def test_file_store_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "d" / "secrets.json"
    FileSecretStore(path).set("signing-keys", SECRET)
    assert FileSecretStore(path).get("signing-keys") == SECRET
    assert SECRET not in repr(FileSecretStore(path))


@pytest.mark.parametrize(
    "content",
    [
        b"{not json " + SECRET.encode(),
        b"\xff\xfe" + SECRET.encode(),
        b'["' + SECRET.encode() + b'"]',
        b'{"version": 1, "secrets": {"k": 5}}',
        b'{"version": 99, "secrets": {}}',
    ],
    ids=["not-json", "not-utf8", "not-object", "bad-value", "bad-version"],
)
def test_file_store_corrupt_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "d" / "secrets.json"
    s = FileSecretStore(path)
    path.write_bytes(content)
    with pytest.raises(SecretStoreError) as info:
        s.get("k")
    message = str(info.value)
    assert str(path) in message
    assert "move it aside" in message
    assert SECRET not in message
    with pytest.raises(SecretStoreError):
        s.set("k", "v")  # never overwrites what it cannot read
    assert path.read_bytes() == content


def test_file_store_refuses_symlink(tmp_path: Path) -> None:
    d = tmp_path / "d"
    s = FileSecretStore(d / "secrets.json")
    (tmp_path / "elsewhere.json").write_text('{"version": 1, "secrets": {}}')
    (d / "secrets.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(SecretStoreError, match="cannot open"):
        s.get("k")


def test_file_store_refuses_a_shared_sticky_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(SecretStoreError, match="shared directory"):
        FileSecretStore(shared / "secrets.json")


# --- keyring store failure modes ---


def test_keyring_store_abandons_a_blocked_call(blocking: BlockingBackend) -> None:
    s = KeyringSecretStore(timeout=0.2, backend=blocking)
    started = time.monotonic()
    with pytest.raises(SecretStoreUnavailable, match="did not answer"):
        s.get("k")
    assert blocking.entered.is_set()
    assert time.monotonic() - started < 5
    # While the first call is still stuck, the next one fails too instead of piling up.
    with pytest.raises(SecretStoreUnavailable):
        s.set("k", "v")
    assert blocking.data == {}
    # Once the backend answers again, the store works again.
    blocking.release.set()
    s.timeout = 10.0
    s.set("k", "v")
    assert s.get("k") == "v"


def test_keyring_store_fail_backend_is_unavailable(fail_keyring: KeyringBackend) -> None:
    s = KeyringSecretStore()
    assert s.description == "keyring (fail)"
    with pytest.raises(SecretStoreUnavailable, match="not usable"):
        s.get("k")


def test_keyring_store_locked_is_unavailable() -> None:
    with pytest.raises(SecretStoreUnavailable, match="locked"):
        KeyringSecretStore(backend=LockedBackend()).get("k")


def test_keyring_store_errors_do_not_carry_backend_messages() -> None:
    with pytest.raises(SecretStoreError) as info:
        KeyringSecretStore(backend=LeakyBackend()).set("k", SECRET)
    assert SECRET not in str(info.value)
    assert "RuntimeError" in str(info.value)


def test_keyring_store_uses_its_service_name() -> None:
    backend = DictBackend()
    KeyringSecretStore("svc", backend=backend).set("name", "v")
    assert backend.data == {("svc", "name"): "v"}


# --- choosing a store ---


def _fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "sessionmgr.security" and r.levelno == logging.WARNING
    ]


def test_open_fail_backend_falls_back_loudly(
    tmp_path: Path, fail_keyring: KeyringBackend, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    with caplog.at_level(logging.WARNING, logger="sessionmgr.security"):
        s = open_secret_store(tmp_path)
    assert isinstance(s, FileSecretStore)
    assert s.path == tmp_path / "secrets.json"
    assert s.description == "file (no OS keyring)"
    [message] = _fallback_warnings(caplog)
    assert message.startswith("no usable OS keyring (keyring found no backend); ")
    assert message.endswith(f"secrets are kept in {tmp_path / 'secrets.json'} (mode 0600)")


def test_open_fail_backend_with_require_keyring_refuses(
    tmp_path: Path, fail_keyring: KeyringBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    with pytest.raises(SecretStoreUnavailable, match=r"no usable OS keyring.*--require-keyring"):
        open_secret_store(tmp_path, require_keyring=True)
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (PlaintextKeyring(), "plaintext"),
        (EmptyChainer(), "nothing|no backend"),
        (LyingBackend(), "did not return what was written"),
    ],
    ids=["keyrings.alt", "empty-chainer", "probe-fails"],
)
def test_open_never_uses_an_unusable_keyring(
    tmp_path: Path, backend: KeyringBackend, reason: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    with keyring_backend(backend), caplog.at_level(logging.WARNING):
        s = open_secret_store(tmp_path)
    assert s.kind == "file"
    [message] = _fallback_warnings(caplog)
    assert message.startswith("no usable OS keyring (")
    assert re.search(reason, message)


def test_open_a_blocked_keyring_times_out_to_the_file_store(
    tmp_path: Path, blocking: BlockingBackend, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    with keyring_backend(blocking), caplog.at_level(logging.WARNING):
        s = open_secret_store(tmp_path, timeout=0.2)
    assert s.kind == "file"
    assert "did not answer" in _fallback_warnings(caplog)[0]


def test_open_uses_a_working_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    backend = DictBackend()
    with keyring_backend(backend):
        s = open_secret_store(tmp_path, require_keyring=True)
    assert isinstance(s, KeyringSecretStore)
    assert s.backend is backend
    assert backend.data == {}  # the probe cleaned up after itself
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize("how", ["prefer", "env"])
@pytest.mark.parametrize(
    ("kind", "cls"), [("file", FileSecretStore), ("memory", MemorySecretStore)]
)
def test_open_forced_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, kind: str, cls: type
) -> None:
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    with keyring_backend(DictBackend()):  # a working keyring is not used when told otherwise
        if how == "prefer":
            s = open_secret_store(tmp_path, prefer=kind)
        else:
            monkeypatch.setenv("SESSIONMGR_SECRETS", kind)
            s = open_secret_store(tmp_path)
    assert isinstance(s, cls)
    with pytest.raises(SecretStoreUnavailable, match="required"):
        open_secret_store(tmp_path, prefer=kind, require_keyring=True)


def test_open_forced_keyring_never_falls_back(
    tmp_path: Path, fail_keyring: KeyringBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONMGR_SECRETS", "keyring")
    with pytest.raises(SecretStoreUnavailable, match="SESSIONMGR_SECRETS=keyring"):
        open_secret_store(tmp_path)


def test_open_rejects_an_unknown_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONMGR_SECRETS", "plaintext")
    with pytest.raises(SecretStoreError, match="SESSIONMGR_SECRETS='plaintext'"):
        open_secret_store(tmp_path)


def test_unusable_backend_reason_accepts_a_real_backend() -> None:
    assert unusable_backend_reason(DictBackend()) is None
    assert unusable_backend_reason(fail.Keyring()) is not None


def test_file_store_mode_is_0600_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "u" / "secrets.json"
        FileSecretStore(path).set("k", "v")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
