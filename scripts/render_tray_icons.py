"""Paint the tray pictures from their SVGs into resources/icons/tray/*.png.

    .venv/bin/python scripts/render_tray_icons.py            # (re)write every PNG
    .venv/bin/python scripts/render_tray_icons.py --check    # exit 1 if any is stale

Run it after changing neutral, login, signed-in, pending or warning-badge.svg.
``--check`` allows a little difference per pixel (anti-aliasing moves between Qt
versions), not a changed shape or colour; ``--dir`` checks or writes elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtGui import QGuiApplication, QImage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOLERANCE = 32  # per colour channel, of 255


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--dir", type=Path, help="instead of resources/icons/tray")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the app is made
    from sessionmgr.gui import icons

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (keep it)
    stale = []
    for kind in icons.IconKind:
        for warning in (False, True):
            for size in icons.TRAY_SIZES:
                path = icons.tray_picture_path(kind, warning, size)
                if args.dir is not None:
                    path = args.dir / path.name
                painted = icons.render_tray_picture(kind, warning, size)
                if not args.check:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if not painted.save(str(path), "PNG"):
                        raise SystemExit(f"cannot write {path}")
                    continue
                shipped = QImage(str(path))
                if shipped.isNull():
                    stale.append(f"{path}: missing or unreadable")
                elif (worst := difference(painted, shipped)) > TOLERANCE:
                    stale.append(f"{path}: differs from its SVGs by up to {worst}/255")
    for line in stale:
        print(line, file=sys.stderr)
    if stale:
        print(f"{len(stale)} stale; run {Path(__file__).name} to repaint", file=sys.stderr)
    return 1 if stale else 0


def difference(a: QImage, b: QImage) -> int:
    """The largest difference of any colour channel (alpha included) at any pixel,
    premultiplied by alpha (a fully transparent pixel has no colour to compare, and
    a nearly transparent one little); 256 when the sizes differ."""
    if a.size() != b.size():
        return 256
    fmt = QImage.Format.Format_RGBA8888_Premultiplied  # one byte per channel
    # Keep each converted image referenced while its bits are read: constBits() is a
    # view into the image's memory, freed with it.
    x_image, y_image = a.convertToFormat(fmt), b.convertToFormat(fmt)
    x, y = x_image.constBits().tobytes(), y_image.constBits().tobytes()
    return max((abs(p - q) for p, q in zip(x, y, strict=True)), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
