"""install-browser-helper: manifest contents, per-browser places, uninstall."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest

from sessionmgr.helper import install
from sessionmgr.helper.install import (
    CHROMIUM_EXTENSION_ID,
    GECKO_ID,
    HOST_NAME,
    InstallError,
    extension_dir,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("SESSIONMGR_HOME", raising=False)
    monkeypatch.delenv("SESSIONMGR_SECRETS", raising=False)
    return h


@pytest.fixture
def host(tmp_path: Path) -> Path:
    exe = tmp_path / "bin" / "sessionmgr-helper"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return exe


def test_extension_id_matches_the_manifest_key() -> None:
    manifest = json.loads((extension_dir() / "manifest.json").read_text())
    der = base64.b64decode(manifest["key"])
    digest = hashlib.sha256(der).hexdigest()[:32]
    assert "".join(chr(ord("a") + int(c, 16)) for c in digest) == CHROMIUM_EXTENSION_ID
    assert manifest["browser_specific_settings"]["gecko"]["id"] == GECKO_ID
    assert manifest["manifest_version"] == 3
    assert {"nativeMessaging", "cookies", "tabs"} <= set(manifest["permissions"])


def test_extension_files_are_package_data() -> None:
    names = {p.name for p in extension_dir().iterdir()}
    assert {"manifest.json", "background.js", "content.js", "page.js", "schema.js",
            "popup.html", "popup.js"} <= names


@pytest.mark.skipif(sys.platform == "darwin", reason="Linux paths")
@pytest.mark.parametrize(
    ("browser", "relative"),
    [
        ("chromium", ".config/chromium/NativeMessagingHosts"),
        ("chrome", ".config/google-chrome/NativeMessagingHosts"),
        ("firefox", ".mozilla/native-messaging-hosts"),
    ],
)
def test_per_user_paths(home: Path, host: Path, browser: str, relative: str) -> None:
    written = install.install(browser, user_data_dir=None, uninstall=False, host_path=host)
    path = home / relative / f"{HOST_NAME}.json"
    assert written == [path]
    manifest = json.loads(path.read_text())
    assert manifest["name"] == HOST_NAME
    assert manifest["type"] == "stdio"
    assert manifest["path"] == str(host)
    assert Path(manifest["path"]).is_absolute()
    if browser == "firefox":
        assert manifest["allowed_extensions"] == [GECKO_ID]
        assert "allowed_origins" not in manifest
    else:
        assert manifest["allowed_origins"] == [f"chrome-extension://{CHROMIUM_EXTENSION_ID}/"]
        assert "allowed_extensions" not in manifest


@pytest.mark.skipif(sys.platform == "darwin", reason="Linux paths")
def test_xdg_config_home_is_honoured(
    home: Path, host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (path,) = install.install("chromium", user_data_dir=None, uninstall=False, host_path=host)
    assert path == tmp_path / "xdg" / "chromium" / "NativeMessagingHosts" / f"{HOST_NAME}.json"


def test_user_data_dir(home: Path, host: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    (path,) = install.install("chromium", user_data_dir=profile, uninstall=False, host_path=host)
    assert path == profile / "NativeMessagingHosts" / f"{HOST_NAME}.json"
    assert json.loads(path.read_text())["path"] == str(host)
    assert not (home / ".config").exists()


def test_user_data_dir_is_not_for_firefox(home: Path, host: Path, tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="Firefox"):
        install.install("firefox", user_data_dir=tmp_path, uninstall=False, host_path=host)


def test_all_browsers_then_uninstall(home: Path, host: Path) -> None:
    written = install.install("all", user_data_dir=None, uninstall=False, host_path=host)
    assert len(written) == 3 and all(p.exists() for p in written)
    removed = install.install("all", user_data_dir=None, uninstall=True)
    assert sorted(removed) == sorted(written)
    assert not any(p.exists() for p in written)
    assert install.install("all", user_data_dir=None, uninstall=True) == []


def test_uninstall_with_user_data_dir(home: Path, host: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    (path,) = install.install("chrome", user_data_dir=profile, uninstall=False, host_path=host)
    assert install.install("chrome", user_data_dir=profile, uninstall=True) == [path]
    assert not path.exists()


def test_environment_is_pinned_through_a_launcher(
    home: Path, host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONMGR_HOME", str(tmp_path / "my home"))
    profile = tmp_path / "profile"
    launcher, manifest_path = install.install(
        "chromium", user_data_dir=profile, uninstall=False, host_path=host
    )
    assert json.loads(manifest_path.read_text())["path"] == str(launcher)
    text = launcher.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f"export SESSIONMGR_HOME='{tmp_path / 'my home'}'" in text
    assert str(host) in text
    assert launcher.stat().st_mode & 0o111
    # Re-installing without the variable drops the launcher again.
    monkeypatch.delenv("SESSIONMGR_HOME")
    (again,) = install.install("chromium", user_data_dir=profile, uninstall=False, host_path=host)
    assert json.loads(again.read_text())["path"] == str(host)
    assert not launcher.exists()


def test_unknown_browser(home: Path, host: Path) -> None:
    with pytest.raises(InstallError, match="unknown browser"):
        install.install("netscape", user_data_dir=None, uninstall=False, host_path=host)


def test_cli_arguments_and_run(
    home: Path, host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(install, "host_executable", lambda: host)
    parser = argparse.ArgumentParser()
    install.add_arguments(parser)
    args = parser.parse_args(["--browser", "chromium", "--user-data-dir", str(tmp_path / "p")])
    assert install.run(args) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'p' / 'NativeMessagingHosts' / (HOST_NAME + '.json')}" in out
    assert CHROMIUM_EXTENSION_ID in out
    args = parser.parse_args(["--browser", "firefox", "--user-data-dir", str(tmp_path)])
    assert install.run(args) == 1
    assert "Firefox" in capsys.readouterr().err
    args = parser.parse_args(["--uninstall", "--browser", "chromium",
                              "--user-data-dir", str(tmp_path / "p")])
    assert install.run(args) == 0
    assert "removed" in capsys.readouterr().out


def test_host_executable_is_found_next_to_python() -> None:
    exe = install.host_executable()
    assert exe.name == "sessionmgr-helper"
    assert exe.is_file()
