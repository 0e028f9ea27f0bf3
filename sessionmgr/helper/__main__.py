"""``python -m sessionmgr.helper``: the native-messaging host (same as ``sessionmgr-helper``)."""

import sys

from sessionmgr.helper.host import main

sys.exit(main())
