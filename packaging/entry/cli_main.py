"""Frozen entry point of ``sessionmgr-cli``: the command line without Qt.

Its Analysis excludes PySide6, shiboken6, ``sessionmgr.gui`` and ``sessionmgr.app``,
so ``serve``, ``status``, ``--version``, ... start without PyInstaller's Qt runtime
hook (which imports QtCore on every start). With no command, which means the tray
app, it hands over to the Qt executable next to it (``sessionmgr``), with the same
arguments.
"""

import os
import sys

from sessionmgr import cli


def start_tray(args: object) -> int:
    """``sessionmgr-cli`` without a command: run the tray app, the Qt executable."""
    exe = os.path.join(os.path.dirname(sys.executable),
                       "sessionmgr.exe" if os.name == "nt" else "sessionmgr")
    argv = [exe, *sys.argv[1:]]
    # A different frozen program: let its bootloader start from scratch.
    env = {**os.environ, "PYINSTALLER_RESET_ENVIRONMENT": "1"}
    if os.name == "nt":  # no exec on Windows: run it and pass its status on
        import subprocess

        return subprocess.call(argv, env=env)
    os.execve(exe, argv, env)  # noqa: S606 (the path is our own sibling executable)
    return 1  # not reached


# cli.build_parser() names cli.cmd_gui as the default command when it runs.
cli.cmd_gui = start_tray

if __name__ == "__main__":
    sys.exit(cli.main())
