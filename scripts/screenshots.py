#!/usr/bin/env python3
"""Screenshots of the tray app under a real X server, for the README.

Starts Xvfb and trayer (an XEmbed system tray), runs the real app (daemon
inside) under ``dbus-run-session`` with ``QT_QPA_PLATFORM=xcb``, feeds it
declarations through the real core, and saves PNGs under ``docs/screenshots``.

    python scripts/screenshots.py            # write docs/screenshots/*.png
    python scripts/screenshots.py --check    # only check the tray icon appears

Needs the Debian packages xvfb, trayer, dbus and x11-xserver-utils.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INNER = "_SESSIONMGR_SCREENSHOTS_INNER"
SCREEN = (1280, 800)
DESKTOP = "#3b4252"
PANEL = "0x2e3440"


# -- the outer process: an X server, a tray, a private session bus ----------


@contextmanager
def x_display() -> Iterator[str]:
    """Xvfb on a free display number (it picks one and tells us through a pipe)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
         "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@contextmanager
def tray(env: dict[str, str]) -> Iterator[None]:
    subprocess.run(["xsetroot", "-solid", DESKTOP], env=env, check=False)
    process = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
         "--height", "30", "--iconspacing", "6", "--padding", "6", "--SetDockType", "true",
         "--SetPartialStrut", "true", "--transparent", "true", "--alpha", "0", "--tint", PANEL],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def outer(args: argparse.Namespace) -> int:
    missing = [tool for tool in ("Xvfb", "trayer", "dbus-run-session", "xsetroot")
               if shutil.which(tool) is None]
    if missing:
        print(f"screenshots: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sessionmgr-shots-") as tmp, x_display() as display:
        runtime = Path(tmp) / "runtime"
        runtime.mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", SESSIONMGR_HOME=str(Path(tmp) / "home"),
                   SESSIONMGR_SECRETS="file", XDG_RUNTIME_DIR=str(runtime),
                   QT_SCALE_FACTOR=str(args.scale), LANG="en_GB.UTF-8", TZ="UTC")
        env[INNER] = "1"
        with tray(env):
            command = ["dbus-run-session", "--", sys.executable, str(Path(__file__).resolve()),
                       "--out", str(args.out)] + (["--check"] if args.check else [])
            return subprocess.run(command, env=env, check=False, timeout=120).returncode


# -- the inner process: the real app, driven into each state ----------------


class _Helper(BaseHTTPRequestHandler):
    """Stands in for a browser helper: accepts every event."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _desktop() -> Any:
    """A plain desktop with a top panel the tray sits in; there is no window manager."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter
    from PySide6.QtWidgets import QWidget

    class Desktop(QWidget):
        def paintEvent(self, event: Any) -> None:
            painter = QPainter(self)
            gradient = QLinearGradient(0, 0, 0, self.height())
            gradient.setColorAt(0, QColor("#5e81ac"))
            gradient.setColorAt(1, QColor("#2e3440"))
            painter.fillRect(self.rect(), gradient)
            painter.fillRect(QRect(0, 0, self.width(), 30), QColor("#" + PANEL[2:]))
            painter.setPen(QColor("#eceff4"))
            font = QFont(self.font())
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(QRect(14, 0, 300, 30), Qt.AlignmentFlag.AlignVCenter, "Activities")
            painter.drawText(QRect(0, 0, self.width(), 30), Qt.AlignmentFlag.AlignCenter,
                             "Sat 21 Nov  18:05")

    desktop = Desktop(None, Qt.WindowType.FramelessWindowHint
                      | Qt.WindowType.WindowStaysOnBottomHint)
    desktop.setGeometry(0, 0, *SCREEN)
    desktop.show()
    desktop.lower()
    return desktop


def inner(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtGui import QGuiApplication, QPixmap
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QToolTip

    from sessionmgr import app

    def pump(seconds: float = 0.0, until: Callable[[], Any] | None = None,
             what: str = "") -> None:
        deadline = time.monotonic() + (seconds or 10.0)
        while True:
            QApplication.processEvents()
            if until is not None and until():
                return
            if time.monotonic() >= deadline:
                if until is not None:
                    raise SystemExit(f"screenshots: timed out waiting for {what}")
                return
            time.sleep(0.01)

    qapp = QApplication(["sessionmgr"])  # run() adopts it
    wallpaper = _desktop()
    pump(until=QSystemTrayIcon.isSystemTrayAvailable, what="the system tray")
    assert app.run(["sessionmgr"], exec_=False) == 0
    running = app.current()
    assert running is not None
    controller, daemon = running.controller, running.daemon
    controller.set_paused(True, save=False)  # no notification balloons in the pictures
    assert controller.tray is not None, "no tray although trayer runs"
    icon = controller.tray.icon
    # Docked once the tray has reparented it into the panel, away from the origin.
    pump(until=lambda: not icon.geometry().isEmpty() and icon.geometry().x() > 0,
         what="the icon in the tray")
    pump(0.3)
    screen = QGuiApplication.primaryScreen()

    def grab_screen(rect: QRect) -> QPixmap:
        return screen.grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height())

    if args.check:
        geometry = icon.geometry()
        centre = grab_screen(geometry).toImage().pixelColor(geometry.width() // 2,
                                                            geometry.height() // 2)
        print(json.dumps({"available": QSystemTrayIcon.isSystemTrayAvailable(),
                          "geometry": [geometry.x(), geometry.y(), geometry.width(),
                                       geometry.height()],
                          "centre": centre.name(), "tooltip": icon.toolTip()}))
        app.shutdown()
        return 0 if centre.name() != "#" + PANEL[2:] else 1

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    service, registry = daemon.service, daemon.registry

    helper_server = ThreadingHTTPServer(("127.0.0.1", 0), _Helper)
    threading.Thread(target=helper_server.serve_forever, daemon=True).start()
    events_url = f"http://127.0.0.1:{helper_server.server_address[1]}/events"

    # A browser asks to pair: the prompt, as a person sees it.
    registry.request_pairing({"name": "Chromium on this computer", "events_url": events_url,
                              "origin": "chrome-extension://lmhmbfgkgcfnkdfdigpmkhcpnnhfnlme"})
    pump(until=lambda: bool(controller.pairing_dialogs), what="the pairing prompt")
    dialog = next(iter(controller.pairing_dialogs.values()))
    pump(0.3)
    dialog.grab().save(str(out / "pairing.png"))
    dialog.approve_button.click()
    pump(until=lambda: len(registry.list_helpers()) == 1, what="the approval")
    chromium = registry.list_helpers()[0]["id"]

    # A second browser whose helper is not running: its events cannot be delivered.
    pairing = registry.request_pairing({"name": "Firefox on the laptop",
                                        "events_url": "http://127.0.0.1:9/events"})
    registry.approve(pairing["id"])
    firefox = next(h["id"] for h in registry.list_helpers() if h["id"] != chromium)
    pump(until=lambda: not controller.pairing_dialogs, what="the second pairing")

    def declare(site: str, sessions: list[dict[str, Any]] | None, *, focused: bool = False,
                helper: str = chromium, cookies: tuple[str, ...] = ()) -> None:
        service.declare(site, {"sessions": sessions, "cookies": list(cookies),
                               "focused": focused}, helper_id=helper)

    people = ["bear", "alice", "bob", "carol", "dan", "erin"]
    for n, site in enumerate(["docs.example.org", "forum.example.net", "github.example",
                              "maps.example.com", "music.example", "news.example.com",
                              "photos.example.org", "shop.example", "travel.example",
                              "video.example.net", "wiki.example.org", "weather.example"]):
        who = people[n % len(people)]
        if n % 4 == 3:
            declare(site, [])
        elif n % 5 == 4:
            declare(site, None)
        else:
            declare(site, [{"email": f"{who}@example.com",
                            "bound_to": {"type": "cookie", "cookie_name": "SID"}},
                           *([{"email": f"{who}.work@corp.example", "status": "passive"}]
                             if n % 3 == 0 else [])])
    declare("bank.example", [{"email": "bear@example.com"}], helper=firefox)
    declare("mail.example.com", [{"email": "bear@example.com"},
                                 {"email": "bob@example.com", "status": "passive"},
                                 {"email": "bear.work@corp.example", "status": "passive"}],
            focused=True)
    signed_in = len(service.signed_in())  # what the tray's summary must come to
    pump(until=lambda: controller.summary.signed_in_count == signed_in
         and controller.focused == "mail.example.com", what="the sites")
    pump(0.3)

    top_right = QRect(SCREEN[0] - 480, 0, 480, 0)

    def panel_shot(name: str, height: int) -> None:
        pump(0.4)
        grab_screen(top_right.adjusted(0, 0, 0, height)).save(str(out / name))

    # The tray icon and its tooltip.
    anchor = icon.geometry()
    QToolTip.showText(anchor.bottomRight() + QPoint(0, 6), icon.toolTip())
    panel_shot("tray.png", 90)
    QToolTip.hideText()

    def doorhanger_shot(name: str) -> None:
        controller.open_doorhanger(icon.geometry())
        pump(0.3)
        door = controller.doorhanger
        panel_shot(name, door.frameGeometry().bottom() + 16)
        door.close()
        pump(0.1)

    doorhanger_shot("doorhanger-signed-in.png")

    # Switch to bob: pending until the site redeclares.
    controller.bridge.login("mail.example.com", "bob@example.com", False)
    pump(until=lambda: bool((controller.focused_state() or {}).get("pending")), what="pending")
    doorhanger_shot("doorhanger-pending.png")

    # The site obeys, and the person chose to stay signed in.
    declare("mail.example.com", [{"email": "bob@example.com"},
                                 {"email": "bear@example.com", "status": "passive"},
                                 {"email": "bear.work@corp.example", "status": "passive"}],
            focused=True)
    pump(until=lambda: (controller.focused_state() or {}).get("active") == "bob@example.com"
         and not controller.focused_state()["pending"], what="the switch")
    controller.bridge.login("mail.example.com", "bear@example.com", True)
    pump(until=lambda: bool((controller.focused_state() or {}).get("pending")), what="login")
    declare("mail.example.com", [{"email": "bear@example.com"},
                                 {"email": "bob@example.com", "status": "passive"},
                                 {"email": "bear.work@corp.example", "status": "passive"}],
            focused=True)
    pump(until=lambda: bool((controller.focused_state() or {}).get("persistent")),
         what="stay signed in")
    doorhanger_shot("doorhanger-stay-signed-in.png")

    # A site that supports the API, nobody signed in, two known accounts.
    declare("travel.example", [{"email": "alice@example.com", "status": "passive"},
                               {"email": "alice.smith@corp.example", "status": "passive"}],
            focused=True)
    pump(until=lambda: controller.focused == "travel.example", what="focus")
    doorhanger_shot("doorhanger-log-in.png")

    # The Firefox helper is down: logging out of the bank cannot be delivered.
    declare("bank.example", [{"email": "bear@example.com"}], helper=firefox, focused=True)
    pump(until=lambda: controller.focused == "bank.example", what="focus")
    controller.bridge.logout("bank.example")
    pump(until=lambda: bool((controller.focused_state() or {}).get("attention")),
         what="the delivery failure")
    doorhanger_shot("doorhanger-failure.png")
    panel_shot("tray-warning.png", 40)

    # The context menu, with the first signed-in site's submenu open.
    menu = controller.tray.menu
    menu.popup(QPoint(SCREEN[0] - 8 - menu.sizeHint().width(), 34))
    pump(0.3)
    first_site = next(a for a in menu.actions() if a.menu() is not None)
    menu.setActiveAction(first_site)
    first_site.menu().popup(menu.mapToGlobal(menu.actionGeometry(first_site).topLeft())
                            - QPoint(first_site.menu().sizeHint().width(), 0))
    pump(0.3)
    left = first_site.menu().geometry().left() - 12
    grab_screen(QRect(left, 0, SCREEN[0] - left, menu.geometry().bottom() + 16)).save(
        str(out / "menu.png"))
    first_site.menu().close()
    menu.close()

    # "Log out of all sites…" says exactly what it will do.
    controller.confirm_logout_all()  # lists the signed-in sites on the worker, then asks
    pump(until=lambda: controller.logout_all_prompt is not None, what="the log-out prompt")
    confirm = controller.logout_all_prompt
    assert confirm is not None
    pump(0.3)
    confirm.grab().save(str(out / "logout-all.png"))
    confirm.reject()  # cancelled: nobody is logged out

    # The sessions window: every site, the activity log, the paired browsers.
    window = controller.show_sessions_window()
    window.resize(1040, 520)
    window.move(60, 60)
    window.select_site("mail.example.com")
    pump(0.5)
    window.grab().save(str(out / "sessions-window.png"))
    window.resize(1040, 300)
    window.show_tab("activity")
    pump(0.3)
    window.grab().save(str(out / "activity.png"))
    window.show_tab("browsers")
    pump(0.3)
    window.grab().save(str(out / "paired-browsers.png"))
    window.close()

    app.shutdown()
    helper_server.shutdown()
    wallpaper.close()
    del qapp
    for path in sorted(out.glob("*.png")):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--check", action="store_true",
                        help="only check that the tray icon appears; write nothing")
    parser.add_argument("--scale", type=float, default=1.0, help="Qt scale factor")
    args = parser.parse_args(argv)
    if os.environ.get(INNER):
        sys.path.insert(0, str(ROOT))
        return inner(args)
    return outer(args)


if __name__ == "__main__":
    sys.exit(main())
