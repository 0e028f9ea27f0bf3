import sys

from sessionmgr.cli import main

sys.exit(main())
