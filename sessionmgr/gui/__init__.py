"""The tray app's GUI: the only package (with ``sessionmgr.app``) that imports Qt."""

from __future__ import annotations

import ctypes
import sys


def _pin_singletons() -> None:
    """Work around a PySide6 6.12 reference-count bug on CPython 3.11.

    Every Qt call that returns a null pointer or an invalid QVariant (``index.data()``
    for an unused role, ``focusWidget()`` with no focus, ``findChild`` with no match)
    gives Python a ``None`` without counting the reference; after some thousands the
    interpreter aborts with "deallocating None". From CPython 3.12 ``None``, ``True``
    and ``False`` are immortal and the bug is harmless, so there we do nothing; before,
    we give them enough extra references to outlive any session.
    """
    if sys.version_info >= (3, 12) or not hasattr(sys, "getrefcount"):
        return
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        if refcount.value < 1 << 40:
            refcount.value += 1 << 40


_pin_singletons()
