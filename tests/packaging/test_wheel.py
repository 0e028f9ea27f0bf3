"""The wheel carries its package data and runs from a fresh virtual environment.

Builds the sdist and wheel with ``python -m build`` (the wheel from the sdist,
so the sdist is proven complete), installs the wheel into a new ``python -m
venv``, and runs packaging/smoke_test.py against that venv's scripts:
``--version``, ``serve --port 0`` answering ``/v1/health``, the helper, the
offscreen tray. The new venv gets the wheel only (``--no-deps``, no index);
its dependencies come from the development venv through a ``.pth`` line, so
the test needs no network, while ``sessionmgr`` itself (code and data) must
come from the wheel: the test checks that it is imported from the new venv.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "org.sessionmgr.SessionManager"
DATA_FILES = [
    "sessionmgr/api/openapi.json",
    "sessionmgr/helper/extension/manifest.json",
    "sessionmgr/helper/extension/background.js",
    "sessionmgr/resources/icons/sessionmgr.svg",
    "sessionmgr/resources/icons/signed-in.svg",
    f"sessionmgr/resources/{APP_ID}.desktop",
    f"sessionmgr/resources/{APP_ID}.metainfo.xml",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("sessionmgr-*.whl")
    (sdist,) = out.glob("sessionmgr-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_lists_the_package_data(built: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    missing = [f for f in DATA_FILES if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("tests/", "packaging/"))]


def test_wheel_installs_and_runs_in_a_fresh_venv(built: dict[str, Path],
                                                 tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, symlinks=sys.platform != "win32").create(env_dir)
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = bindir / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--disable-pip-version-check", str(built["wheel"])],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies (PySide6, keyring, ...) from the development venv, after the
    # new venv's own site-packages; the dev venv's editable sessionmgr (a .pth
    # there) is not processed through this line, so sessionmgr is the wheel's.
    (site / "zz_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    probe = subprocess.run([str(python), "-c", """
import sys
from importlib import resources
import sessionmgr
from sessionmgr.gui import icons
from sessionmgr.helper import install
root = resources.files("sessionmgr")
for rel in sys.argv[1:]:
    assert root.joinpath(rel.removeprefix("sessionmgr/")).is_file(), rel
print(sessionmgr.__file__)
print(icons.resources_dir())
print(install.extension_dir())
""", *DATA_FILES], capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert probe.returncode == 0, probe.stderr
    module, resources_dir, extension = probe.stdout.split()
    assert Path(module).is_relative_to(site), module
    assert Path(resources_dir) == site / "sessionmgr" / "resources"
    assert Path(extension) == site / "sessionmgr" / "helper" / "extension"

    smoke = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "smoke_test.py"), "--bin", str(bindir)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "smoke test passed" in smoke.stdout
