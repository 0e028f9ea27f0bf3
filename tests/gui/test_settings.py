"""Settings from the GUI: saved off the GUI thread, start-at-login entry, pausing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeService

from sessionmgr import settings as settings_io
from sessionmgr.gui import autostart
from sessionmgr.gui.controller import Controller


def test_xdg_autostart_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    entry = tmp_path / "autostart" / "org.sessionmgr.SessionManager.desktop"
    autostart._xdg_autostart(True)
    text = entry.read_text()
    assert "[Desktop Entry]" in text and "Exec=" in text and "-m sessionmgr" in text
    autostart._xdg_autostart(True)  # idempotent
    autostart._xdg_autostart(False)
    assert not entry.exists()
    autostart._xdg_autostart(False)


def test_apply_settings_saves_and_writes_the_login_item(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.platform", "linux")
    controller = Controller(FakeService(), settings_io.Settings(), tray_available=True)
    try:
        new = controller.settings._replace(start_at_login=True, notifications=False,
                      persist_days=7)
        controller.apply_settings(new)
        entry = tmp_path / "xdg" / "autostart" / "org.sessionmgr.SessionManager.desktop"
        qtbot.waitUntil(entry.exists)
        qtbot.waitUntil(lambda: (home / "settings.json").exists())
        saved = json.loads((home / "settings.json").read_text())
        assert (saved["start_at_login"], saved["notifications"], saved["persist_days"]) == \
            (True, False, 7)
        assert controller.tray is not None and controller.tray.pause_action.isChecked()
        notes: list[str] = []
        controller.tray.notify = lambda *args: notes.append(args[0])  # type: ignore[method-assign]
        controller.notify("paused", "not shown")
        assert notes == []
        controller.set_paused(False)  # "Pause notifications" unticked in the menu
        qtbot.waitUntil(lambda: json.loads((home / "settings.json").read_text())
                        ["notifications"] is True)
    finally:
        controller.close()
