"""Start at login: the entry each desktop reads (XDG autostart, the Windows Run
key, a macOS LaunchAgent). Plain Python, called on the bridge's worker thread.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

APP_ID = "org.sessionmgr.SessionManager"


def launch_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "sessionmgr"]


def autostart_path() -> Path:
    """The XDG autostart entry (Linux and other freedesktop systems)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / f"{APP_ID}.desktop"


def set_start_at_login(enabled: bool) -> None:
    """Create or remove the platform's login item; idempotent."""
    if sys.platform == "win32":
        _windows_run_key(enabled)
    elif sys.platform == "darwin":
        _launch_agent(enabled)
    else:
        _xdg_autostart(enabled)


def _xdg_autostart(enabled: bool) -> None:
    path = autostart_path()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Session Manager\n"
        "Comment=See who you are signed in as on every site\n"
        f"Exec={shlex.join(launch_command())}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n",
        encoding="utf-8",
    )


def _launch_agent(enabled: bool) -> None:
    import plistlib

    path = Path.home() / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plistlib.dumps(
        {"Label": APP_ID, "ProgramArguments": launch_command(), "RunAtLoad": True}))


def _windows_run_key(enabled: bool) -> None:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    key_path = r"Software\Microsoft\Windows\CurrentVersion\Run"
    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key_path, 0,  # type: ignore[attr-defined,unused-ignore]
                        winreg.KEY_SET_VALUE) as key:  # type: ignore[attr-defined,unused-ignore]
        if enabled:
            command = " ".join(f'"{part}"' for part in launch_command())
            winreg.SetValueEx(key, "SessionManager", 0, winreg.REG_SZ, command)  # type: ignore[attr-defined,unused-ignore]
        else:
            with contextlib.suppress(FileNotFoundError):
                winreg.DeleteValue(key, "SessionManager")  # type: ignore[attr-defined,unused-ignore]
