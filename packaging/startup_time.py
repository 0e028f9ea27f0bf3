"""Start-up time, frozen vs not: spawn until /v1/health answers, median of N runs.

    .venv/bin/python packaging/startup_time.py [--runs 7] [--dist dist/sessionmgr]

Measures ``serve --port 0`` (frozen: ``sessionmgr-cli``, the Qt-free command
line) and the offscreen tray (frozen: ``sessionmgr``, the Qt executable) for the
PyInstaller folder and for the development venv's ``sessionmgr`` script, and
prints the ratios (the target: frozen within 1.2x of non-frozen for both; exit
status 1 otherwise). ``--version`` (spawn to exit) is printed for information.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smoke_test import EXE, ROOT, TRAY_SETTLE, Build, _env, median, startup_times


def exit_times(argv: list[str], runs: int) -> list[float]:
    """Seconds from spawn to exit (for a command that exits by itself)."""
    env = _env(Path("/nonexistent-sessionmgr-home"))
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "sessionmgr")
    parser.add_argument("--venv-bin", type=Path, default=Path(sysconfig.get_path("scripts")),
                        help="where the non-frozen sessionmgr script is (default: this Python's)")
    args = parser.parse_args(argv)
    offscreen = {"QT_QPA_PLATFORM": "offscreen", "DBUS_SESSION_BUS_ADDRESS": "disabled:",
                 "SESSIONMGR_SECRETS": "file"}
    frozen = Build.from_dir(args.dist)
    venv = args.venv_bin / f"sessionmgr{EXE}"
    if not frozen.app.is_file():
        parser.error(f"no frozen build in {args.dist}")
    worst = 0.0
    for what, frozen_exe, extra, settle in (
            ("serve --port 0", frozen.cli, ["serve", "--port", "0"], 0.0),
            ("offscreen tray", frozen.app, [], TRAY_SETTLE),
            ("--version", frozen.cli, ["--version"], None)):
        row = {}
        for label, exe in (("frozen", frozen_exe), ("venv", venv)):
            argv = [str(exe), *extra]
            if settle is None:
                exit_times(argv, 1)  # warm the page cache
                times = exit_times(argv, args.runs)
            else:
                startup_times(argv, offscreen, 1, settle)  # warm the page cache
                times = startup_times(argv, offscreen, args.runs, settle)
            row[label] = median(times)
            print(f"{what:15} {label:6} median {row[label] * 1000:6.0f} ms  "
                  f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)})"
                  f"  {exe.name}")
        ratio = row["frozen"] / row["venv"]
        if settle is not None:
            worst = max(worst, ratio)
        print(f"{what:15} frozen/venv = {ratio:.2f}")
    return 0 if worst <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
