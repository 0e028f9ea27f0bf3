"""Frozen entry point of ``sessionmgr`` (the tray app and the command line)."""

import sys

from sessionmgr.cli import main

if __name__ == "__main__":
    sys.exit(main())
