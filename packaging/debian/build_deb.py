"""Assemble and build the .deb from the PyInstaller folder.

    .venv/bin/python packaging/debian/build_deb.py [--dist dist/sessionmgr] [--out dist]

needs a finished one-folder build (packaging/sessionmgr.spec) and dpkg-deb.
Writes dist/sessionmgr_<version>-1_<arch>.deb and prints its path. The tree
is assembled in build/deb/root (removed first), so every build starts clean.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent))

from sessionmgr import __version__  # noqa: E402
from sessionmgr.helper import install  # noqa: E402

APP_ID = "org.sessionmgr.SessionManager"
DEBIAN_REVISION = "1"
PREFIX = Path("opt/sessionmgr")
HOST_PATH = Path("/usr/bin/sessionmgr-helper")
EXECUTABLES = ("sessionmgr", "sessionmgr-cli", "sessionmgr-helper")
# Tray-app options: with nothing but these, `sessionmgr` starts the tray.
TRAY_OPTIONS = ("--require-keyring",)
# The system-wide native-messaging host directories of Debian's browsers.
MANIFEST_DIRS = {
    "chromium": Path("etc/chromium/native-messaging-hosts"),
    "chrome": Path("etc/opt/chrome/native-messaging-hosts"),
    "firefox": Path("usr/lib/mozilla/native-messaging-hosts"),
}


def linux_file(name: str) -> Path:
    """The desktop entry / metainfo the GUI ships in resources/."""
    path = ROOT / "resources" / name
    if not path.is_file():
        raise SystemExit(f"missing {path}")
    return path


def put(src: Path, dest: Path, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    dest.chmod(mode)


def write(dest: Path, data: bytes | str, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data.encode() if isinstance(data, str) else data)
    dest.chmod(mode)


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shared_library_depends(tree: Path) -> list[str]:
    """Debian packages providing the libraries the bundle links to but does not carry."""
    internal = tree / PREFIX / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))
    outside: set[str] = set()
    for path in sorted((tree / PREFIX).rglob("*")):
        if not path.is_file() or path.is_symlink() or not _is_elf(path):
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "=> not found" in line:
                raise SystemExit(f"{path}: {line.strip()}")
            if "=>" in line:
                lib = line.split("=>")[1].split("(")[0].strip()
                if lib and not lib.startswith(str(tree)):
                    outside.add(os.path.realpath(lib))
    packages: set[str] = set()
    for lib in sorted(outside):
        # dpkg knows the /lib/... or /usr/lib/... spelling (merged /usr): try both.
        for spelling in (lib, lib.removeprefix("/usr"), "/usr" + lib):
            found = subprocess.run(["dpkg", "-S", spelling], capture_output=True, text=True)
            if found.returncode == 0:
                packages.add(found.stdout.split(":")[0].strip())
                break
        else:
            raise SystemExit(f"no Debian package provides {lib}")
    # libblkid/libmount (bundled through GLib) mention sensible-pager.
    packages.add("sensible-utils")
    return sorted(packages)


def dispatcher(prefix: Path = Path("/") / PREFIX) -> str:
    """/usr/bin/sessionmgr: the tray app is the Qt executable; every command, --version
    and --help run the Qt-free one, which starts without loading Qt. POSIX sh only.

    Anything but the tray's own options goes to the command line, so a command
    added to cli.py needs no change here; an unknown option gets argparse's error
    from it, and no command at all reaches the tray either way (sessionmgr-cli
    hands over to sessionmgr)."""
    tray_options = " | ".join(TRAY_OPTIONS)
    cli, tray = (shlex.quote(str(prefix / name)) for name in ("sessionmgr-cli", "sessionmgr"))
    return f"""#!/bin/sh
# sessionmgr: with no command (the tray app) run the Qt executable; with a command
# (serve, status, sites, ...), --version or --help run the command line without Qt,
# which starts faster. Both are the same program ({prefix}/, see sessionmgr(1)).
for arg in "$@"; do
  case $arg in
    {tray_options}) ;;
    *) exec {cli} "$@" ;;
  esac
done
exec {tray} "$@"
"""


def build(dist: Path, out: Path, compression: str = "xz") -> Path:
    missing = [name for name in EXECUTABLES if not (dist / name).is_file()]
    if missing:
        raise SystemExit(f"no frozen build in {dist} (missing {missing});"
                         " run pyinstaller packaging/sessionmgr.spec")
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    version = f"{__version__}-{DEBIAN_REVISION}"
    work = ROOT / "build" / "deb"
    shutil.rmtree(work, ignore_errors=True)
    tree = work / "root"

    # The frozen app, and the commands on PATH: sessionmgr-helper as a symlink (the
    # bootloader finds its _internal folder through /proc/self/exe, so a symlink
    # works), sessionmgr as a small sh script that picks the tray app (Qt) or the
    # Qt-free command line.
    shutil.copytree(dist, tree / PREFIX, symlinks=True)
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/sessionmgr-helper").symlink_to(f"/{PREFIX}/sessionmgr-helper")
    dispatch = tree / "usr/bin/sessionmgr"
    write(dispatch, dispatcher())

    # Desktop integration: launcher, icons, AppStream. No autostart entry: the
    # app writes ~/.config/autostart itself when the user turns it on.
    put(linux_file(f"{APP_ID}.desktop"), tree / f"usr/share/applications/{APP_ID}.desktop")
    put(linux_file(f"{APP_ID}.metainfo.xml"), tree / f"usr/share/metainfo/{APP_ID}.metainfo.xml")
    hicolor = tree / "usr/share/icons/hicolor"
    put(ROOT / "resources/icons/sessionmgr.svg", hicolor / f"scalable/apps/{APP_ID}.svg")
    import icons

    icons.main([str(work / "icons")])
    for png in sorted((work / "icons" / "png").glob("*.png")):
        put(png, hicolor / png.stem / "apps" / f"{APP_ID}.png")

    # Native-messaging host manifests: the same builder as install-browser-helper.
    for browser, directory in MANIFEST_DIRS.items():
        manifest = install.host_manifest(browser, HOST_PATH)
        write(tree / directory / f"{install.HOST_NAME}.json",
              json.dumps(manifest, indent=2) + "\n")

    # Documentation Debian policy asks for.
    doc = tree / "usr/share/doc/sessionmgr"
    put(HERE / "copyright", doc / "copyright")
    changelog = (HERE / "changelog").read_text().replace("@VERSION@", version)
    changelog = changelog.replace("@UPSTREAM@", __version__)
    write(doc / "changelog.Debian.gz", gzip.compress(changelog.encode(), 9, mtime=0))
    put(HERE / "lintian-overrides", tree / "usr/share/lintian/overrides/sessionmgr")
    for page in sorted((HERE / "man").glob("*.1")):
        write(tree / "usr/share/man/man1" / f"{page.name}.gz",
              gzip.compress(page.read_bytes(), 9, mtime=0))

    # Strip shared objects as dh_strip does (never the executables: PyInstaller
    # appends the program's archive to the bootloader). Then permissions: dirs and
    # the executables 0755, everything else (shared objects too) 0644.
    executables = {tree / PREFIX / name for name in EXECUTABLES} | {dispatch}
    shared = [p for p in (tree / PREFIX).rglob("*") if p.is_file() and not p.is_symlink()
              and p not in executables and _is_elf(p)]
    subprocess.run(["strip", "--strip-unneeded", "--remove-section=.comment",
                    "--remove-section=.note", *map(str, shared)], check=True)
    for path in tree.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() or path in executables else 0o644)

    control_dir = tree / "DEBIAN"
    control_dir.mkdir()
    installed_kib = sum(p.lstat().st_size for p in tree.rglob("*") if not p.is_dir()) // 1024
    control = (HERE / "control.in").read_text()
    for key, value in {"@VERSION@": version, "@ARCH@": arch,
                       "@INSTALLED_SIZE@": str(installed_kib),
                       "@DEPENDS@": ", ".join(shared_library_depends(tree))}.items():
        control = control.replace(key, value)
    write(control_dir / "control", control)
    conffiles = sorted("/" + str(d / f"{install.HOST_NAME}.json")
                       for d in MANIFEST_DIRS.values() if str(d).startswith("etc/"))
    write(control_dir / "conffiles", "\n".join(conffiles) + "\n")
    md5 = []
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink() and control_dir not in path.parents:
            digest = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 (dpkg's format)
            md5.append(f"{digest}  {path.relative_to(tree)}")
    write(control_dir / "md5sums", "\n".join(md5) + "\n")

    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"sessionmgr_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", f"-Z{compression}",
                    str(tree), str(deb)],
                   check=True, stdout=subprocess.DEVNULL)
    return deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist" / "sessionmgr")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--compression", choices=("xz", "gzip", "zstd"), default="xz",
                        help="xz: smallest, for releases (~100 s); gzip: fast, for tests (~6 s)")
    args = parser.parse_args(argv)
    print(build(args.dist.resolve(), args.out.resolve(), args.compression))
    return 0


if __name__ == "__main__":
    sys.exit(main())
