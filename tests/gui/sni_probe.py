"""What a desktop shell sees of the tray over D-Bus (StatusNotifierItem).

Run by ``test_xvfb.py`` inside ``dbus-run-session`` with ``DISPLAY`` on an Xvfb
and no XEmbed tray: a minimal StatusNotifierWatcher (the part of a shell that
collects tray items) is started on the private bus, the real app starts, a site
is declared, and the item's tooltip, icon and menu are read back the way a
shell reads them. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jeepney import (
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_call,
    new_method_return,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

WATCHER = "org.kde.StatusNotifierWatcher"
INTROSPECTION = f"""<node>
 <interface name="{WATCHER}">
  <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
 </interface>
</node>"""


class Watcher(threading.Thread):
    """Just enough of org.kde.StatusNotifierWatcher for Qt to register its item."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.conn = open_dbus_connection("SESSION")
        self.conn.send_and_get_reply(message_bus.RequestName(WATCHER, 4))
        self.items: list[tuple[str, str]] = []
        self.stop = threading.Event()

    def properties(self) -> dict[str, tuple[str, Any]]:
        return {"IsStatusNotifierHostRegistered": ("b", True), "ProtocolVersion": ("i", 0),
                "RegisteredStatusNotifierItems": ("as", [s for s, _ in self.items])}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            if member == "RegisterStatusNotifierItem":
                sender = msg.header.fields[HeaderFields.sender]
                self.items.append((sender, msg.body[0]))
                reply = new_method_return(msg)
            elif member == "RegisterStatusNotifierHost":
                reply = new_method_return(msg)
            elif member == "Introspect":
                reply = new_method_return(msg, "s", (INTROSPECTION,))
            elif member == "Get":
                reply = new_method_return(msg, "v", (self.properties()[msg.body[1]],))
            elif member == "GetAll":
                reply = new_method_return(msg, "a{sv}", (self.properties(),))
            else:
                reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod")
            self.conn.send(reply)


def labels(layout: Any) -> list[Any]:
    """(id, {props}, [children]) from com.canonical.dbusmenu, as nested labels."""
    out: list[Any] = []
    for _, child in layout[2]:
        _id, props, children = child
        if props.get("type", ("s", ""))[1] == "separator":
            continue
        label = props.get("label", ("s", ""))[1].replace("_", "")
        out.append([label, labels(child)] if children else label)
    return out


def read_item(service: str, path: str, answers: queue.Queue[Any]) -> None:
    """A shell's view of the item; runs on a thread while Qt's loop answers."""
    try:
        conn = open_dbus_connection("SESSION")
        item = DBusAddress(path, bus_name=service, interface="org.freedesktop.DBus.Properties")

        def get(name: str) -> Any:
            reply = conn.send_and_get_reply(
                new_method_call(item, "Get", "ss", ("org.kde.StatusNotifierItem", name)))
            return reply.body[0][1]

        tooltip = get("ToolTip")
        menu_path = get("Menu")
        pixmaps = get("IconPixmap")
        menu = DBusAddress(menu_path, bus_name=service, interface="com.canonical.dbusmenu")
        # A shell says it is about to show the menu (the app refreshes it), then reads it.
        conn.send_and_get_reply(new_method_call(menu, "AboutToShow", "i", (0,)))
        layout = conn.send_and_get_reply(
            new_method_call(menu, "GetLayout", "iias", (0, -1, []))).body[1]
        answers.put({"tooltip": [tooltip[2], tooltip[3]], "title": get("Title"),
                     "status": get("Status"), "icon_sizes": [[w, h] for w, h, _ in pixmaps],
                     "menu": labels(layout)})
    except Exception as exc:
        answers.put({"error": repr(exc)})


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    watcher = Watcher()
    watcher.start()

    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    from sessionmgr import app

    qapp = QApplication(["sessionmgr"])

    def pump(until: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            qapp.processEvents()
            value = until()
            if value:
                return value
            time.sleep(0.01)
        raise SystemExit(f"timed out: {until}")

    report: dict[str, Any] = {"available": QSystemTrayIcon.isSystemTrayAvailable()}
    assert app.run(["sessionmgr"], exec_=False) == 0
    running = app.current()
    assert running is not None
    sender, registered = pump(lambda: watcher.items and watcher.items[0])
    # The item names itself by bus name (Qt) or by object path on the sender.
    service = sender if registered.startswith("/") else registered
    path = registered if registered.startswith("/") else "/StatusNotifierItem"
    report["registered"] = registered
    running.daemon.service.declare("example.com", {
        "sessions": [{"email": "bear@example.com"}, {"email": "bob@example.com",
                                                     "status": "passive"}],
        "cookies": [], "focused": True})
    tray = running.controller.tray
    pump(lambda: tray is not None and "bear@example.com" in tray.icon.toolTip())
    answers: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=read_item, args=(service, path, answers), daemon=True).start()
    report.update(pump(lambda: None if answers.empty() else answers.get()))
    app.shutdown()
    watcher.stop.set()
    print(json.dumps(report))
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    sys.exit(main())
