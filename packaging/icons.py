"""Render the app icon (resources/icons/sessionmgr.svg) for installers, with Qt only.

    python packaging/icons.py OUTDIR

writes OUTDIR/png/<N>x<N>.png (hicolor sizes), OUTDIR/sessionmgr.ico (Windows,
PNG-compressed entries) and OUTDIR/sessionmgr.icns (macOS). Qt renders the SVG
on every platform the CI builds on, so no other tool is needed.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / "icons" / "sessionmgr.svg"
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# icns chunk types holding PNG data, by pixel size.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09",
              1024: b"ic10"}


def render(sizes: tuple[int, ...]) -> dict[int, bytes]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot render {SVG}")
    out: dict[int, bytes] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not image.save(buffer, "PNG"):
            raise SystemExit(f"cannot encode a {size}px PNG")
        buffer.close()
        out[size] = bytes(data.data())
    del app
    return out


def ico(pngs: dict[int, bytes]) -> bytes:
    """ICONDIR + ICONDIRENTRYs + PNG payloads (Windows Vista and later read PNG entries)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    entries, payload = b"", b""
    for size in sizes:
        data = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        payload += data
    return header + entries + payload


def icns(pngs: dict[int, bytes]) -> bytes:
    chunks = b"".join(ICNS_TYPES[s] + struct.pack(">I", 8 + len(pngs[s])) + pngs[s]
                      for s in sorted(pngs))
    return b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    (out / "png").mkdir(parents=True, exist_ok=True)
    pngs = render(tuple(sorted({*HICOLOR_SIZES, *ICO_SIZES, *ICNS_TYPES})))
    for size in HICOLOR_SIZES:
        (out / "png" / f"{size}x{size}.png").write_bytes(pngs[size])
    (out / "sessionmgr.ico").write_bytes(ico({s: pngs[s] for s in ICO_SIZES}))
    (out / "sessionmgr.icns").write_bytes(icns({s: pngs[s] for s in ICNS_TYPES}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
