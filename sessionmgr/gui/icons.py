"""Tray and window icons, drawn from the SVGs in ``resources/icons``.

The tray shows one of four base pictures, optionally with a warning badge in
the corner. Rather than ship every combination, a small icon engine paints
base and badge from SVG at whatever size is asked, so the icon is crisp at any
scale and on any device pixel ratio.
"""

from __future__ import annotations

import sys
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from sessionmgr.gui import describe


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


@cache
def _renderer(name: str) -> QSvgRenderer:
    return QSvgRenderer(str(icon_path(name)))


class _LayeredSvgEngine(QIconEngine):
    """Paints a stack of SVG layers into any rectangle."""

    SIZES = (16, 22, 24, 32, 48, 64, 128, 256)

    def __init__(self, layers: tuple[str, ...]):
        super().__init__()
        self._layers = layers

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if mode == QIcon.Mode.Disabled:
            painter.setOpacity(0.45)
        for layer in self._layers:
            _renderer(layer).render(painter, rect.toRectF())
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(QColor(0, 0, 0, 0))  # transparent (without the Qt namespace: see models)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pixmap

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pixmap = self.pixmap(size * scale, mode, state)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def availableSizes(self, mode: QIcon.Mode = QIcon.Mode.Normal,
                       state: QIcon.State = QIcon.State.Off) -> list[QSize]:
        return [QSize(s, s) for s in self.SIZES]

    def isNull(self) -> bool:
        return not self._layers

    def key(self) -> str:
        return "sessionmgr-layered-svg"

    def iconName(self) -> str:
        return ""

    def clone(self) -> QIconEngine:
        return _LayeredSvgEngine(self._layers)


_icons: dict[tuple[IconKind, bool], QIcon] = {}


def tray_icon(kind: IconKind, warning: bool = False) -> QIcon:
    """The tray picture for ``kind``, badged when something went undelivered."""
    key = (kind, warning)
    if key not in _icons:
        layers = (kind.value, "warning-badge") if warning else (kind.value,)
        _icons[key] = QIcon(_LayeredSvgEngine(layers))
    return _icons[key]


def app_icon() -> QIcon:
    return QIcon(str(icon_path("sessionmgr")))
