"""Start-up time, frozen vs not: spawn until /v1/health answers, median of N runs.

    .venv/bin/python packaging/startup_time.py [--runs 7] [--dist dist/sessionmgr]

Measures ``serve --port 0`` and the offscreen tray for the PyInstaller folder
and for the development venv's console scripts, and prints the ratio (the
target: frozen within 1.2x of non-frozen).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smoke_test import ROOT, median, startup_times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "sessionmgr")
    parser.add_argument("--venv-bin", type=Path, default=Path(sys.executable).parent)
    args = parser.parse_args(argv)
    offscreen = {"QT_QPA_PLATFORM": "offscreen", "DBUS_SESSION_BUS_ADDRESS": "disabled:",
                 "SESSIONMGR_SECRETS": "file"}
    worst = 0.0
    for what, extra, settle in (("serve --port 0", ["serve", "--port", "0"], 0.0),
                                ("offscreen tray", [], 1.0)):
        row = {}
        for label, exe in (("frozen", args.dist / "sessionmgr"),
                           ("venv", args.venv_bin / "sessionmgr")):
            startup_times([str(exe), *extra], offscreen, 1, settle)  # warm the page cache
            times = startup_times([str(exe), *extra], offscreen, args.runs, settle)
            row[label] = median(times)
            print(f"{what:15} {label:6} median {row[label] * 1000:6.0f} ms  "
                  f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)})")
        ratio = row["frozen"] / row["venv"]
        worst = max(worst, ratio)
        print(f"{what:15} frozen/venv = {ratio:.2f}")
    return 0 if worst <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
