"""Password hashing for sites (authen's ``hash``/``verify``), on argon2-cffi.

Install with the ``site`` extra (``pip install sessionmgr[site]``). Hashes are
argon2id PHC strings (``$argon2id$v=19$m=...``) that carry their own salt and
parameters; ``needs_rehash`` says when the parameters are older than ours.
"""

from __future__ import annotations

import functools
from typing import Any

MAX_PASSWORD_LENGTH = 4096  # argon2 takes anything; a megabyte "password" is a DoS


@functools.cache
def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError:  # pragma: no cover - the extra is a test dependency
        raise RuntimeError(
            "password hashing needs argon2-cffi: install sessionmgr[site]"
        ) from None
    return PasswordHasher()


def hash(password: str) -> str:  # authen's name; shadows the builtin here only
    """An argon2id hash of ``password`` to store instead of it."""
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password is a non-empty string of at most {MAX_PASSWORD_LENGTH} "
                         "characters")
    return str(_hasher().hash(password))


def verify(password: str, hashed: str) -> bool:
    """True if ``password`` matches ``hashed``; False for a wrong password or a bad hash."""
    from argon2 import exceptions

    if not isinstance(password, str) or not isinstance(hashed, str):
        return False
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(_hasher().verify(hashed, password))
    except (exceptions.VerificationError, exceptions.InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """True if ``hashed`` was made with weaker parameters than ours (rehash at next login)."""
    return bool(_hasher().check_needs_rehash(hashed))
