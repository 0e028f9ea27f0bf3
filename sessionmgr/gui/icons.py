"""Tray and window icons, drawn from the SVGs in ``resources/icons``.

The tray shows one of four base pictures, optionally with a warning badge in
the corner. Those eight pictures are shipped as PNGs at the sizes trays and
menus ask for (``resources/icons/tray``), painted from the SVGs by
``scripts/render_tray_icons.py``: loading a PNG needs nothing beyond QtGui,
where painting SVGs at start-up took QtSvg and QPainter (~3 ms of the tray's
start-up). A test checks that the PNGs still match the SVGs.
"""

from __future__ import annotations

import sys
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from sessionmgr.gui import describe

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

# Tray slots are 16-24 px (32-48 at 2x), menus 16, the doorhanger 32 (64 at 2x).
TRAY_SIZES = (16, 22, 24, 32, 48, 64, 128)


class IconKind(Enum):
    NEUTRAL = "neutral"
    LOGIN = "login"
    SIGNED_IN = "signed-in"
    PENDING = "pending"


class TrayLook(NamedTuple):
    kind: IconKind
    warning: bool
    tooltip: str


def tray_look(state: dict[str, Any] | None, undelivered: bool = False) -> TrayLook:
    """Map the focused site's state (and the global "something undelivered"
    flag) to what the tray shows. Pure, so every state is easy to test."""
    kind, warning = icon_for(state, undelivered)
    return TrayLook(kind, warning, describe.tooltip(state, undelivered))


def icon_for(state: dict[str, Any] | None, undelivered: bool = False) -> tuple[IconKind, bool]:
    """Just the picture of :func:`tray_look` (cheap enough for every table row)."""
    if not state or not state.get("supported"):
        kind = IconKind.NEUTRAL
    elif state.get("pending"):
        kind = IconKind.PENDING
    elif describe.is_signed_in(state):
        kind = IconKind.SIGNED_IN
    else:
        kind = IconKind.LOGIN
    return kind, bool(undelivered or (state or {}).get("attention"))


@cache
def resources_dir() -> Path:
    """``resources/`` next to the package (installed or frozen) or in the repo."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "resources", here.parent.parent / "resources"]
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.insert(0, Path(frozen) / "resources")
    for candidate in candidates:
        if (candidate / "icons").is_dir():
            return candidate
    return candidates[-1]


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


def tray_picture_path(kind: IconKind, warning: bool, size: int) -> Path:
    badge = "-warning" if warning else ""
    return resources_dir() / "icons" / "tray" / f"{kind.value}{badge}-{size}.png"


def render_tray_picture(kind: IconKind, warning: bool, size: int) -> QImage:
    """Paint the picture's SVG layers (base, then badge) at ``size``: what its PNG
    holds. For the script that writes them and the test that checks them."""
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)  # what Qt paints in
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for layer in (kind.value, "warning-badge") if warning else (kind.value,):
        renderer = QSvgRenderer(str(icon_path(layer)))
        if not renderer.isValid():
            painter.end()
            raise ValueError(f"cannot render {icon_path(layer)}")
        renderer.render(painter)
    painter.end()
    return image


_icons: dict[tuple[IconKind, bool], QIcon] = {}


def tray_icon(kind: IconKind, warning: bool = False) -> QIcon:
    """The tray picture for ``kind``, badged when something went undelivered. Qt
    reads each size's PNG when it is first drawn, and scales the nearest larger one
    for sizes in between."""
    key = (kind, warning)
    icon = _icons.get(key)
    if icon is None:
        icon = _icons[key] = QIcon()
        for size in TRAY_SIZES:
            icon.addFile(str(tray_picture_path(kind, warning, size)), QSize(size, size))
    return icon


def app_icon() -> QIcon:
    return QIcon(str(icon_path("sessionmgr")))
