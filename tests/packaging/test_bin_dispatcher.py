"""The .deb's /usr/bin/sessionmgr: a POSIX sh script that picks the executable.

The script packaging/debian/build_deb.py writes is run here by dash (Debian's
/bin/sh) against two stand-in executables that print their name and their
arguments: with no command (or only the tray's own options) it must exec the Qt
executable ``sessionmgr``; with any command, ``--version`` or ``--help`` the
Qt-free ``sessionmgr-cli``; and in both cases hand every argument over verbatim.
The list of commands comes from the real parser in sessionmgr/cli.py, so a new
command or a new tray option there is caught here. The installed script is run
for real by test_deb.py (the smoke test through /usr/bin).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging" / "debian"))
import build_deb  # noqa: E402

from sessionmgr import cli  # noqa: E402

DASH = shutil.which("dash")
STUB = '#!/bin/sh\nprintf "%s\\n" "${0##*/}"\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n'

pytestmark = pytest.mark.skipif(DASH is None, reason="needs dash (Debian's /bin/sh)")


@pytest.fixture
def script(tmp_path: Path) -> Path:
    prefix = tmp_path / "opt dir" / "sessionmgr"  # a space: the paths must be quoted
    prefix.mkdir(parents=True)
    for name in ("sessionmgr", "sessionmgr-cli"):
        (prefix / name).write_text(STUB)
        (prefix / name).chmod(0o755)
    path = tmp_path / "sessionmgr"
    path.write_text(build_deb.dispatcher(prefix))
    path.chmod(0o755)
    return path


def run(script: Path, *args: str) -> tuple[str, list[str]]:
    assert DASH is not None
    done = subprocess.run([DASH, str(script), *args], capture_output=True, text=True,
                          timeout=10, check=True)
    assert done.stderr == ""
    name, *rest = done.stdout.splitlines()
    return name, [a[1:-1] for a in rest]


def commands() -> list[str]:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def test_is_posix_sh(script: Path) -> None:
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert DASH is not None
    subprocess.run([DASH, "-n", str(script)], check=True, timeout=10)
    # The bashisms a dispatcher is tempted into; dash would reject most at run time.
    for bashism in ("[[", "$'", "function ", "local ", "exec -a", "${@:", "==", "source "):
        assert bashism not in text, bashism


def test_tray_without_a_command(script: Path) -> None:
    assert run(script) == ("sessionmgr", [])
    for option in build_deb.TRAY_OPTIONS:
        assert run(script, option) == ("sessionmgr", [option])


def test_every_command_and_version_and_help_run_without_qt(script: Path) -> None:
    names = commands()
    assert {"serve", "status", "sites", "login", "logout", "declare", "events", "helpers",
            "install-browser-helper"} <= set(names)
    for name in names:
        assert run(script, name) == ("sessionmgr-cli", [name])
    for option in ("--version", "--help", "-h"):
        assert run(script, option) == ("sessionmgr-cli", [option])
    # A tray option before a command: still the command line.
    assert run(script, "--require-keyring", "serve") == ("sessionmgr-cli",
                                                         ["--require-keyring", "serve"])
    # Unknown options go to the command line too, which answers with argparse's error.
    assert run(script, "--bogus")[0] == "sessionmgr-cli"


def test_arguments_pass_through_verbatim(script: Path) -> None:
    args = ["declare", "a b.example", "--sessions", '[{"email": "x@example.com"}]', "",
            "--cookie", "*", "$HOME", "-"]
    assert run(script, *args) == ("sessionmgr-cli", args)


def test_tray_options_are_the_parsers() -> None:
    """Every top-level option of cli.py other than --help/--version is a tray option."""
    parser = cli.build_parser()
    options = {o for a in parser._actions if not isinstance(a, argparse._SubParsersAction)
               for o in a.option_strings} - {"-h", "--help", "--version"}
    assert options == set(build_deb.TRAY_OPTIONS)
