"""The Qt-free core stays Qt-free (only gui/ and app.py import PySide6), and the daemon light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
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


# Loaded by http.server and http.client, none of which the daemon needs: its HTTP
# reader is its own (sessionmgr/api/server.py) and requests is imported on first use;
# idna (~1 MiB of tables) at the first non-ASCII host, uuid (with platform) at the
# first id.
HEAVY = ("http.client", "http.server", "email", "ssl", "_ssl", "html", "mimetypes",
         "idna", "uuid", "platform")


def test_importing_the_daemon_loads_nothing_it_needs_only_later() -> None:
    code = "import json, sys, sessionmgr.daemon; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(  # a fresh interpreter: this one has loaded everything already
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout)
    assert "sessionmgr.api.server" in loaded, "the check ran the real import"
    heavy = [name for name in loaded if name.partition(".")[0] in HEAVY or name in HEAVY]
    assert heavy == []
