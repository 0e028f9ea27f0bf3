"""Tray icon kinds and tooltips for every state, and icons that render at any size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import samples
from PySide6.QtCore import QSize
from PySide6.QtSvg import QSvgRenderer

from sessionmgr.gui import describe, icons
from sessionmgr.gui.icons import IconKind


@pytest.mark.parametrize(
    ("state", "kind", "warning", "tooltip"),
    [
        (None, IconKind.NEUTRAL, False, "Session Manager — no site in focus"),
        (samples.UNSUPPORTED, IconKind.NEUTRAL, False,
         "example.com — does not use sign-in sessions"),
        (samples.LOGIN, IconKind.LOGIN, False, "example.com — not signed in"),
        (samples.NOBODY_ACTIVE, IconKind.LOGIN, False, "example.com — not signed in"),
        (samples.SIGNED_IN, IconKind.SIGNED_IN, False,
         "example.com — signed in as bear@example.com"),
        (samples.STAY_SIGNED_IN, IconKind.SIGNED_IN, False,
         "example.com — signed in as bear@example.com"),
        (samples.PENDING_SWITCH, IconKind.PENDING, False,
         "Switching to bob@example.com — waiting for example.com"),
        (samples.LOGIN_STATUS, IconKind.SIGNED_IN, False,
         "example.com — signed in (the site does not say as whom)"),
    ],
)
def test_every_state_has_an_icon_and_words(state: Any, kind: IconKind, warning: bool,
                                           tooltip: str) -> None:
    look = icons.tray_look(state)
    assert (look.kind, look.warning, look.tooltip) == (kind, warning, tooltip)


def test_attention_badges_the_icon_and_explains_in_the_tooltip() -> None:
    look = icons.tray_look(samples.UNDELIVERED)
    assert look.kind is IconKind.SIGNED_IN and look.warning
    assert look.tooltip.splitlines() == [
        "example.com — signed in as bear@example.com",
        "⚠ Could not tell example.com to switch accounts: the Chromium helper is not running.",
    ]


def test_undelivered_elsewhere_badges_too() -> None:
    look = icons.tray_look(samples.LOGIN, undelivered=True)
    assert look.kind is IconKind.LOGIN and look.warning
    assert "could not be delivered" in look.tooltip


def test_pending_texts() -> None:
    site = "example.com"
    assert describe.pending_text(samples.event(site, "logout", "bear@example.com"), site) == \
        "Logging out bear@example.com — waiting for example.com"
    assert describe.pending_text(samples.event(site, account="bob@example.com"), site) == \
        "Logging in as bob@example.com — waiting for example.com"
    assert describe.pending_text(samples.event(site), site) == \
        "Logging in — waiting for example.com"
    long_id = "bob.with.a.very.long.name@example.com"
    assert describe.pending_text(samples.event(site, account=long_id, previous="a"), site) == \
        "Switching to bob.with.a.very.long.name@e… — waiting for example.com"


@pytest.mark.parametrize("name", ["neutral", "login", "signed-in", "pending", "warning-badge",
                                  "sessionmgr"])
def test_svgs_are_valid(qapp: Any, name: str) -> None:
    renderer = QSvgRenderer(str(icons.icon_path(name)))
    assert renderer.isValid()
    assert renderer.viewBox().width() == renderer.viewBox().height() == 64


@pytest.mark.parametrize("kind", list(IconKind))
@pytest.mark.parametrize("warning", [False, True])
def test_icons_render_at_every_size(qapp: Any, kind: IconKind, warning: bool) -> None:
    icon = icons.tray_icon(kind, warning)
    assert not icon.isNull()
    assert QSize(22, 22) in icon.availableSizes()
    for side in (*icons.TRAY_SIZES, 19, 100):  # shipped sizes, and ones scaled down to
        image = icon.pixmap(QSize(side, side)).toImage()
        assert image.width() == side
        centre = image.pixelColor(side // 2, side // 2)
        assert centre.alpha() == 255  # drawn, not blank
    largest = max(icons.TRAY_SIZES)
    assert icon.pixmap(QSize(2 * largest, 2 * largest)).width() == largest  # never blown up
    # The badge sits in the lower right corner and is red.
    corner = icon.pixmap(QSize(64, 64)).toImage().pixelColor(39, 47)
    assert (corner.red() > 200 and corner.green() < 80) is warning
    assert icons.tray_icon(kind, warning) is icon  # cached, cheap to switch


RENDER = Path(__file__).resolve().parents[2] / "scripts" / "render_tray_icons.py"


def render_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, str(RENDER), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_shipped_tray_pngs_match_their_svgs() -> None:
    """The PNGs the tray loads are the SVGs painted (repaint after editing an SVG)."""
    done = render_script("--check")
    assert done.returncode == 0, done.stderr


def test_a_stale_tray_png_is_named(tmp_path: Path) -> None:
    shipped = icons.tray_picture_path(IconKind.LOGIN, False, 22).parent
    copy = tmp_path / "tray"
    shutil.copytree(shipped, copy)
    # Another picture under this one's name: same size, different shape and colour.
    shutil.copy(shipped / "pending-22.png", copy / "login-22.png")
    (copy / "neutral-warning-16.png").unlink()
    done = render_script("--check", "--dir", str(copy))
    assert done.returncode == 1
    assert f"{copy / 'login-22.png'}: differs from its SVGs" in done.stderr
    assert f"{copy / 'neutral-warning-16.png'}: missing" in done.stderr
    assert "2 stale" in done.stderr
    assert render_script("--dir", str(copy)).returncode == 0  # repainted
    assert render_script("--check", "--dir", str(copy)).returncode == 0
