"""The baseline for start-up, memory and idle: a bare PySide6 app with one tray icon.

Prints ``bare: ready`` once ``QSystemTrayIcon.show()`` has run and the event
loop turns (``sessionmgr`` gives its ready with SESSIONMGR_REPORT_READY once it
has also loaded every site into the GUI; the bare app has nothing to load),
then quits; with ``--stay`` it idles (no timer) until SIGTERM ends it.
"""

from __future__ import annotations

import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QSystemTrayIcon


def main(argv: list[str]) -> int:
    stay = "--stay" in argv
    app = QApplication(argv[:1])
    app.setQuitOnLastWindowClosed(False)
    pixmap = QPixmap(22, 22)
    pixmap.fill(QColor("#3b7dd8"))
    tray = QSystemTrayIcon(QIcon(pixmap))
    tray.setToolTip("bare")
    tray.show()
    QTimer.singleShot(0, lambda: print("bare: ready", flush=True))
    if stay:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # killed by SIGTERM: no polling timer
    else:
        QTimer.singleShot(0, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
