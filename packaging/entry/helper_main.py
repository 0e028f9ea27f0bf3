"""Frozen entry point of ``sessionmgr-helper`` (the browser's native-messaging host)."""

import sys

from sessionmgr.helper.host import main

if __name__ == "__main__":
    sys.exit(main())
