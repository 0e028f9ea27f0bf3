"""Random identifiers: events, pairing requests, helpers."""

from __future__ import annotations


def random_id() -> str:
    """A random (version 4) UUID as a string. ``uuid`` loads at the first id, not at
    start-up: with the ``platform`` module it imports, ~0.7 MiB an idle app never needs."""
    import uuid

    return str(uuid.uuid4())
