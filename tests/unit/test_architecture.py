"""The Qt-free core stays Qt-free: only gui/ and app.py may import PySide6."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sessionmgr"
QT_ALLOWED = ("gui/", "app.py")


def qt_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        if any(name == "PySide6" or name.startswith(("PySide6.", "shiboken6")) for name in names):
            lines.append(node.lineno)
    return lines


def test_only_the_gui_imports_pyside6() -> None:
    offenders = []
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        checked += 1
        if relative.startswith(QT_ALLOWED):
            continue
        offenders += [f"{relative}:{line}" for line in qt_imports(path)]
    assert checked > 20, "the walk found the package"
    assert offenders == []


def test_the_checker_sees_imports_in_any_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6 import QtCore\ndef f():\n    import PySide6.QtGui\n")
    assert qt_imports(sample) == [2, 4]
