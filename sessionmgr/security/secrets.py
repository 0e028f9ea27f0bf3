"""Where sessionmgr keeps its secrets (signing keys, helper tokens, assertion keys).

The OS keyring is preferred. A machine without a usable one (headless boxes,
minimal desktops) gets a 0600 JSON file in the data dir instead, and that
choice is announced with a WARNING rather than made silently: a plaintext
``keyrings.alt`` backend is never picked behind the user's back.

Keyring calls run on a worker thread and are abandoned after a timeout,
because a Secret Service that waits on an unlock prompt can block forever.

Secret values never appear in reprs, log lines or exception messages.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets as _random
import stat
import tempfile
import threading
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, runtime_checkable

# keyring is imported where it is used: a run on the file store never pays for it.
if TYPE_CHECKING:
    from collections.abc import Callable

    from keyring.backend import KeyringBackend

log = logging.getLogger("sessionmgr.security")

ENV_BACKEND: Final = "SESSIONMGR_SECRETS"
BACKEND_KINDS: Final = ("keyring", "file", "memory")
DEFAULT_SERVICE: Final = "sessionmgr"
FILE_NAME: Final = "secrets.json"
_FILE_VERSION: Final = 1
_PROBE_NAME: Final = "sessionmgr-probe"

_T = TypeVar("_T")


class SecretStoreError(Exception):
    """A secret could not be read or written; the message says what and where."""


class SecretStoreUnavailable(SecretStoreError):
    """No usable backend, the keyring is locked, or it did not answer in time."""


@runtime_checkable
class SecretStore(Protocol):
    """A small name -> string store; the daemon's only way to persist secrets."""

    kind: str
    description: str

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


def _check_name(name: str) -> None:
    # Control characters and lone surrogates do not survive every backend (D-Bus, JSON).
    if (
        not isinstance(name, str)
        or not name
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in name)
    ):
        raise ValueError(
            "secret names are non-empty strings without control characters or lone surrogates"
        )


def _check_value(value: str) -> None:
    # The message never includes the value itself.
    if not isinstance(value, str):
        raise TypeError("secret values are strings")


class MemorySecretStore:
    """Keeps secrets in a dict; for tests and for ``SESSIONMGR_SECRETS=memory``."""

    kind = "memory"
    description = "memory (not persisted)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        _check_name(name)
        with self._lock:
            return self._data.get(name)

    def set(self, name: str, value: str) -> None:
        _check_name(name)
        _check_value(value)
        with self._lock:
            self._data[name] = value

    def delete(self, name: str) -> None:
        _check_name(name)
        with self._lock:
            self._data.pop(name, None)

    def __repr__(self) -> str:
        with self._lock:
            return f"<MemorySecretStore with {len(self._data)} secrets>"


class FileSecretStore:
    """A JSON file readable only by the user: the announced fallback without a keyring.

    Every operation re-reads the file under a lock and writes through a
    temporary file plus ``os.replace``, so a crash never leaves half a file and
    a reader never sees one.
    """

    kind = "file"
    description = "file (no OS keyring)"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._prepare_dir()

    def __repr__(self) -> str:
        return f"<FileSecretStore {str(self.path)!r}>"

    def _prepare_dir(self) -> None:
        parent = self.path.parent
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = parent.stat()
        except OSError as e:
            raise SecretStoreError(f"cannot create the secrets directory {parent}: {e}") from e
        if st.st_mode & stat.S_ISVTX:
            # /tmp and friends: shared with other users, never ours to lock down.
            raise SecretStoreError(
                f"refusing to keep secrets directly in the shared directory {parent}; "
                "use a private data directory"
            )
        if stat.S_IMODE(st.st_mode) & 0o077:
            try:
                parent.chmod(0o700)
            except OSError as e:
                raise SecretStoreError(
                    f"the secrets directory {parent} is readable by others and cannot be "
                    f"restricted to its owner: {e}"
                ) from e

    def _read(self) -> dict[str, str]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise SecretStoreError(f"cannot open the secrets file {self.path}: {e}") from e
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise SecretStoreError(f"the secrets file {self.path} is not a regular file")
            if stat.S_IMODE(st.st_mode) & 0o077:
                log.warning("secrets file %s was readable by others; restricting it to 0600",
                            self.path)
                os.fchmod(f.fileno(), 0o600)
            raw = f.read()
        try:
            doc = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise self._corrupt("it is not UTF-8") from e
        except json.JSONDecodeError as e:
            # Only the position: the message of a JSON error can quote the document.
            raise self._corrupt(f"invalid JSON at line {e.lineno} column {e.colno}") from None
        if not isinstance(doc, dict) or doc.get("version") != _FILE_VERSION:
            raise self._corrupt(f"expected an object with \"version\": {_FILE_VERSION}")
        data = doc.get("secrets")
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise self._corrupt("\"secrets\" must map names to strings")
        return data

    def _corrupt(self, why: str) -> SecretStoreError:
        return SecretStoreError(
            f"the secrets file {self.path} is unreadable ({why}); move it aside to start "
            "over (the keys it held are then forgotten and helpers must pair again)"
        )

    def _write(self, data: dict[str, str]) -> None:
        body = json.dumps({"version": _FILE_VERSION, "secrets": data}, indent=1, sort_keys=True)
        parent = self.path.parent
        try:
            # mkstemp creates the file 0600, before any secret is written to it.
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=".secrets-", suffix=".tmp")
        except OSError as e:
            raise SecretStoreError(f"cannot write the secrets file in {parent}: {e}") from e
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise SecretStoreError(f"cannot write the secrets file {self.path}: {e}") from e
        with contextlib.suppress(OSError):
            dfd = os.open(parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def get(self, name: str) -> str | None:
        _check_name(name)
        with self._lock:
            return self._read().get(name)

    def set(self, name: str, value: str) -> None:
        _check_name(name)
        _check_value(value)
        with self._lock:
            data = self._read()
            data[name] = value
            self._write(data)

    def delete(self, name: str) -> None:
        _check_name(name)
        with self._lock:
            data = self._read()
            if data.pop(name, None) is not None:
                self._write(data)


class KeyringSecretStore:
    """The OS keyring through ``keyring``, each call on a worker thread with a timeout.

    Calls are serialised: while an abandoned call is still stuck in the
    backend, later calls wait for it (within their own timeout) rather than
    piling up more blocked threads. Worker threads are daemons so a stuck
    backend never keeps the process from exiting.
    """

    kind = "keyring"

    def __init__(
        self,
        service: str = DEFAULT_SERVICE,
        timeout: float = 5.0,
        *,
        backend: KeyringBackend | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if backend is None:
            import keyring

            backend = keyring.get_keyring()
        self.service = service
        self.timeout = timeout
        self.backend = backend
        self.label = backend_label(backend)
        self.description = f"keyring ({self.label})"
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<KeyringSecretStore service={self.service!r} {self.description}>"

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            raise self._timed_out(what)
        try:
            previous = self._worker
            if previous is not None and previous.is_alive():
                previous.join(max(0.0, deadline - time.monotonic()))
                if previous.is_alive():
                    raise self._timed_out(what)
            done = threading.Event()
            outcome: dict[str, Any] = {}

            def run() -> None:
                try:
                    outcome["value"] = fn()
                except BaseException as e:
                    outcome["error"] = e
                finally:
                    done.set()

            worker = threading.Thread(target=run, name=f"sessionmgr-keyring-{what}", daemon=True)
            self._worker = worker
            worker.start()
            if not done.wait(max(0.0, deadline - time.monotonic())):
                raise self._timed_out(what)
        finally:
            self._lock.release()
        if "error" in outcome:
            raise self._translate(what, outcome["error"]) from outcome["error"]
        value: _T = outcome["value"]
        return value

    def _timed_out(self, what: str) -> SecretStoreUnavailable:
        return SecretStoreUnavailable(
            f"the OS keyring ({self.label}) did not answer a {what} within "
            f"{self.timeout:g} s; it may be locked and waiting for an unlock prompt: unlock "
            "it, or start with SESSIONMGR_SECRETS=file"
        )

    def _translate(self, what: str, e: BaseException) -> SecretStoreError:
        from keyring import errors
        # Only the exception type and our own words: backend messages are not ours to trust.
        if isinstance(e, errors.KeyringLocked):
            return SecretStoreUnavailable(
                f"the OS keyring ({self.label}) is locked; unlock it and retry"
            )
        if isinstance(e, (errors.NoKeyringError, errors.InitError)):
            return SecretStoreUnavailable(
                f"the OS keyring ({self.label}) is not usable ({type(e).__name__}); "
                "start a Secret Service or use SESSIONMGR_SECRETS=file"
            )
        return SecretStoreError(
            f"the OS keyring ({self.label}) failed a {what} ({type(e).__name__})"
        )

    def get(self, name: str) -> str | None:
        _check_name(name)
        value = self._call("read", lambda: self.backend.get_password(self.service, name))
        if value is not None and not isinstance(value, str):
            raise SecretStoreError(f"the OS keyring ({self.label}) returned a non-string")
        return value

    def set(self, name: str, value: str) -> None:
        _check_name(name)
        _check_value(value)
        self._call("write", lambda: self.backend.set_password(self.service, name, value))

    def delete(self, name: str) -> None:
        _check_name(name)

        def delete() -> None:
            # A missing name is fine; keyring reports it as PasswordDeleteError.
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                self.backend.delete_password(self.service, name)

        self._call("delete", delete)


def backend_label(backend: object) -> str:
    """A short name for a keyring backend, e.g. ``SecretService`` or ``macOS``."""
    module = type(backend).__module__
    if module.startswith("keyring.backends."):
        return module.rpartition(".")[2]
    return f"{module}.{type(backend).__qualname__}"


def unusable_backend_reason(backend: object) -> str | None:
    """Why a keyring backend must not hold our secrets, or None if it may.

    Rejects the fail and null backends, any ``keyrings.alt`` (plaintext or
    "encrypted" with a password in a file) backend, and a chainer that has
    nothing, or anything unusable, to chain to.
    """
    from keyring.backends import chainer as keyring_chainer
    from keyring.backends import fail as keyring_fail

    module = type(backend).__module__
    name = type(backend).__qualname__
    if isinstance(backend, keyring_fail.Keyring):
        return "keyring found no backend"
    if module == "keyring.backends.null":
        return "the null keyring backend discards secrets"
    if module == "keyrings.alt" or module.startswith("keyrings.alt."):
        return f"refusing the plaintext-file keyring backend {module}.{name}"
    lowered = name.lower()
    if "plaintext" in lowered or "insecure" in lowered:
        return f"refusing the insecure keyring backend {module}.{name}"
    if isinstance(backend, keyring_chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return "the keyring chainer has no backend to chain to"
        for child in chained:
            why = unusable_backend_reason(child)
            if why is not None:
                return why
    return None


def probe_keyring(store: KeyringSecretStore) -> None:
    """Write, read back and delete a random value; raises SecretStoreError if that fails.

    A keyring that stops answering is not asked again to clean up, so the
    probe costs at most two timeouts; the leftover value is random and is
    overwritten by the next probe.
    """
    value = _random.token_urlsafe(16)
    store.set(_PROBE_NAME, value)
    back = store.get(_PROBE_NAME)
    store.delete(_PROBE_NAME)
    if back is None or not hmac.compare_digest(back.encode(), value.encode()):
        raise SecretStoreUnavailable(
            f"the OS keyring ({store.label}) did not return what was written to it"
        )


def _usable_keyring(timeout: float, service: str) -> KeyringSecretStore | str:
    """A probed keyring store, or the reason there is none."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as e:  # keyring's own config loading can fail in odd ways
        return f"keyring could not load a backend: {type(e).__name__}"
    why = unusable_backend_reason(backend)
    if why is not None:
        return why
    store = KeyringSecretStore(service, timeout, backend=backend)
    try:
        probe_keyring(store)
    except SecretStoreError as e:
        return str(e)
    return store


def open_secret_store(
    data_dir: Path,
    *,
    require_keyring: bool = False,
    prefer: str | None = None,
    timeout: float = 5.0,
    service: str = DEFAULT_SERVICE,
) -> SecretStore:
    """Pick the secret store for this run.

    ``prefer`` (else ``$SESSIONMGR_SECRETS``) forces a backend; a forced
    keyring that does not work raises rather than falling back. Otherwise the
    OS keyring is used when its backend is a real one and a probe round trip
    succeeds; if not, secrets go to ``data_dir/secrets.json`` with a WARNING,
    or, with ``require_keyring``, SecretStoreUnavailable is raised.
    """
    source = "prefer"
    choice = prefer
    if choice is None:
        choice = os.environ.get(ENV_BACKEND) or None
        source = ENV_BACKEND
    if choice is not None and choice not in BACKEND_KINDS:
        raise SecretStoreError(
            f"{source}={choice!r} is not a secret store; use one of {', '.join(BACKEND_KINDS)}"
        )
    path = Path(data_dir) / FILE_NAME
    if require_keyring and choice in ("file", "memory"):
        raise SecretStoreUnavailable(
            f"an OS keyring is required, but {source}={choice} asks for the {choice} store; "
            "drop one of the two"
        )
    if choice == "memory":
        log.warning("secrets are kept in memory only (%s=memory); they are lost on exit", source)
        return MemorySecretStore()
    if choice == "file":
        log.info("secrets are kept in %s (mode 0600), as %s=file asks", path, source)
        return FileSecretStore(path)
    found = _usable_keyring(timeout, service)
    if isinstance(found, KeyringSecretStore):
        log.info("secrets are kept in the OS %s", found.description)
        return found
    if choice == "keyring" or require_keyring:
        why = f"{source}=keyring" if choice == "keyring" else "--require-keyring"
        raise SecretStoreUnavailable(
            f"no usable OS keyring ({found}), and {why} rules out the file fallback; start "
            "or unlock a Secret Service (e.g. gnome-keyring) or allow the file store"
        )
    store = FileSecretStore(path)
    log.warning("no usable OS keyring (%s); secrets are kept in %s (mode 0600)", found, path)
    return store
