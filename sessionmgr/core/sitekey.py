"""Site keys: the host name a declaration belongs to, in one canonical form.

Bindings hold only for the exact host that declared them (R7), so two spellings
of one host must never become two sites: lower-case, IDNA (punycode) for
non-ASCII labels, no trailing dot, no port. ``localhost`` and IPv4 literals are
allowed; anything else that is not a host name is rejected.
"""

from __future__ import annotations

import ipaddress
import re
from types import ModuleType

from sessionmgr.errors import InvalidInput

MAX_SITE_LENGTH = 253
_IPV4_SHAPE = re.compile(r"^[0-9.]+$")
_LDH_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _idna() -> ModuleType:
    """The ``idna`` package, loaded at the first internationalised name: its tables
    take ~1 MiB that an idle app with ASCII sites never needs."""
    import idna

    return idna


def normalize_site(raw: object, *, field: str = "site") -> str:
    """Return the canonical site key for ``raw`` or raise :class:`InvalidInput`."""
    if not isinstance(raw, str):
        raise InvalidInput(field, "must be a host name (a string)")
    text = raw[:-1] if raw.endswith(".") else raw
    if not text:
        raise InvalidInput(field, "must be a host name, got an empty string")
    if len(text) > 4 * MAX_SITE_LENGTH:
        raise InvalidInput(field, f"is longer than {MAX_SITE_LENGTH} characters")
    if any(ch.isspace() or ch in "/:@?#[]\\%" for ch in text) or not text.isprintable():
        raise InvalidInput(
            field, f"{_quote(raw)} is not a host name (no scheme, port, path or spaces)"
        )
    lowered = text.lower()
    if _IPV4_SHAPE.match(lowered):
        try:
            return str(ipaddress.IPv4Address(lowered))
        except ValueError:
            raise InvalidInput(field, f"{_quote(raw)} is not a valid IPv4 address") from None
    if lowered.isascii():
        ascii_name = lowered
    else:
        idna = _idna()
        try:
            ascii_name = idna.encode(lowered, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidInput(field, f"{_quote(raw)} is not a valid host name ({exc})") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_SITE_LENGTH:
        raise InvalidInput(field, f"is longer than {MAX_SITE_LENGTH} characters")
    for label in labels:
        if not _LDH_LABEL.match(label):
            raise InvalidInput(field, f"{_quote(raw)} is not a valid host name")
        if label.startswith("xn--"):
            idna = _idna()
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError):
                raise InvalidInput(field, f"{_quote(raw)} has an invalid punycode label") from None
    if labels[-1].isdigit():
        raise InvalidInput(field, f"{_quote(raw)} is not a valid host name")
    return ascii_name


def display_site(site: str) -> str:
    """The Unicode form for people; the key stays punycode."""
    if "xn--" not in site:
        return site  # nothing encoded: a key is lower-case ASCII already
    idna = _idna()
    try:
        return idna.decode(site)
    except (idna.IDNAError, UnicodeError):
        return site


def _quote(value: str) -> str:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return repr(shown)
