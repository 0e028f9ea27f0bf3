"""The site kit: any Python (WSGI) web app speaks the Sessions API in a few lines.

``SessionKit`` is a WSGI middleware with persona-id's server API, authen's
cookie sessions (auth token + limited CSRF twin) on
:mod:`sessionmgr.security.tokens`, the ``sessions.js`` browser shim, and
persistent login verified with a registered Ed25519 public key
(:mod:`sessionmgr.security.assertions`). Qt-free; needs no sessionmgr daemon on
the server. Password hashing needs the ``site`` extra (argon2-cffi).
See docs/site-kit.md.
"""

from sessionmgr.site.kit import (
    ENVIRON_AUTH,
    Auth,
    AuthProblem,
    Identity,
    LoginRefused,
    SessionKit,
    site_key,
)
from sessionmgr.site.stores import KitStore, MemoryStore, StoreFull

__all__ = [
    "ENVIRON_AUTH",
    "Auth",
    "AuthProblem",
    "Identity",
    "KitStore",
    "LoginRefused",
    "MemoryStore",
    "SessionKit",
    "StoreFull",
    "site_key",
]
