"""The Qt binding must count references to None: PySide6 6.12.0 on CPython 3.11 did not.

Every Qt call that returns a null value handed Python a ``None`` it never
counted; after a few thousand of them the interpreter aborts with "deallocating
None". pyproject.toml keeps that release out; this test fails on any binding
that brings the bug back.
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QStringListModel, Qt


def test_null_results_do_not_lose_references_to_none(qapp: Any) -> None:
    model = QStringListModel(["only row"])
    index = model.index(0)
    before = sys.getrefcount(None)
    for _ in range(2000):
        assert index.data(Qt.ItemDataRole.DecorationRole) is None
    assert sys.getrefcount(None) - before > -100
