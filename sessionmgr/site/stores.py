"""What a site kit remembers between requests, behind one small interface.

Tokens are stateless, but four things are not: the nonces handed out for
silent logins (single use, short-lived), the public keys accounts registered
for persistent login, sessions ended by a logout (so a copied cookie dies with
them) and each identity's last revocation time (authen's revoker).
:class:`MemoryStore` keeps them in one process; a site with several worker
processes implements :class:`KitStore` on its database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol, runtime_checkable


class StoreFull(Exception):
    """Too many live nonces: refuse to hand out more for now."""


@runtime_checkable
class KitStore(Protocol):
    def add_nonce(self, nonce: str, expires: float, now: float) -> None:
        """Remember a nonce until ``expires``; StoreFull if too many are live."""

    def take_nonce(self, nonce: str, now: float) -> bool:
        """Atomically: True and forget it if ``nonce`` is known and unexpired, else False."""

    def register_key(self, account: str, public_key: str, now: float) -> None: ...

    def keys_for(self, account: str) -> list[str]: ...

    def remove_key(self, account: str, public_key: str) -> None: ...

    def end_session(self, sid: str, until: float) -> None:
        """The session ``sid`` is over; remember that until its tokens expire anyway."""

    def is_ended(self, sid: str, now: float) -> bool: ...

    def revoke(self, identity: str, at: float) -> None: ...

    def last_revocation(self, identity: str) -> float: ...


class MemoryStore:
    """All of :class:`KitStore` in memory, thread-safe, bounded."""

    def __init__(self, *, max_nonces: int = 10_000, max_keys_per_account: int = 10,
                 max_ended: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._nonces: OrderedDict[str, float] = OrderedDict()
        self._keys: dict[str, list[str]] = {}
        self._ended: OrderedDict[str, float] = OrderedDict()
        self._revoked: dict[str, float] = {}
        self.max_nonces = max_nonces
        self.max_keys_per_account = max_keys_per_account
        self.max_ended = max_ended

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._nonces)} nonces, {len(self._keys)} accounts with keys>"

    # -- nonces

    def add_nonce(self, nonce: str, expires: float, now: float) -> None:
        with self._lock:
            if len(self._nonces) >= self.max_nonces:
                for key in [k for k, exp in self._nonces.items() if exp <= now]:
                    del self._nonces[key]
            if len(self._nonces) >= self.max_nonces:
                raise StoreFull("too many silent-login nonces are outstanding")
            self._nonces[nonce] = expires

    def take_nonce(self, nonce: str, now: float) -> bool:
        with self._lock:
            expires = self._nonces.pop(nonce, None)
        return expires is not None and now <= expires

    # -- registered public keys

    def register_key(self, account: str, public_key: str, now: float) -> None:
        with self._lock:
            keys = [k for k in self._keys.get(account, []) if k != public_key]
            keys.append(public_key)
            self._keys[account] = keys[-self.max_keys_per_account:]

    def keys_for(self, account: str) -> list[str]:
        with self._lock:
            return list(self._keys.get(account, []))

    def remove_key(self, account: str, public_key: str) -> None:
        with self._lock:
            keys = [k for k in self._keys.get(account, []) if k != public_key]
            if keys:
                self._keys[account] = keys
            else:
                self._keys.pop(account, None)

    # -- ended sessions

    def end_session(self, sid: str, until: float) -> None:
        with self._lock:
            self._ended[sid] = until
            while len(self._ended) > self.max_ended:
                self._ended.popitem(last=False)

    def is_ended(self, sid: str, now: float) -> bool:
        with self._lock:
            until = self._ended.get(sid)
            if until is not None and until < now:
                del self._ended[sid]  # its tokens have expired: nothing left to refuse
                return False
            return until is not None

    # -- revocation (authen's "last revocation time")

    def revoke(self, identity: str, at: float) -> None:
        with self._lock:
            self._revoked[identity] = max(at, self._revoked.get(identity, 0.0))

    def last_revocation(self, identity: str) -> float:
        with self._lock:
            return self._revoked.get(identity, 0.0)
