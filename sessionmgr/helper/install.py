"""``sessionmgr install-browser-helper``: register ``sessionmgr-helper`` with browsers.

A browser only starts a native-messaging host it finds a manifest for, in a
per-browser directory (on Windows: a registry key naming the manifest), and
only for the extension ids the manifest lists. The extension's id is fixed by
the ``key`` in its manifest.json, so it is a constant here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path

HOST_NAME = "org.sessionmgr.helper"
# sha256 of the manifest key's DER SubjectPublicKeyInfo, first 32 hex digits as a-p.
CHROMIUM_EXTENSION_ID = "kcjlcmohpnapdokpbjgjpjnhdgajbkpn"
CHROMIUM_ORIGIN = f"chrome-extension://{CHROMIUM_EXTENSION_ID}/"
GECKO_ID = "helper@sessionmgr.org"
BROWSERS = ("chromium", "chrome", "firefox")
DESCRIPTION = "sessionmgr browser helper"
# Passed on to the host through a launcher script when set at install time.
_PINNED_ENV = ("SESSIONMGR_HOME", "SESSIONMGR_SECRETS")

_WINDOWS_KEYS = {
    "chromium": r"Software\Chromium\NativeMessagingHosts",
    "chrome": r"Software\Google\Chrome\NativeMessagingHosts",
    "firefox": r"Software\Mozilla\NativeMessagingHosts",
}


class InstallError(Exception):
    """The install cannot be done as asked; the message says why."""


def extension_dir() -> Path:
    """The unpacked extension shipped in this package (for "Load unpacked")."""
    return Path(str(resources.files("sessionmgr.helper") / "extension"))


def manifest_dir(browser: str, *, user_data_dir: Path | None = None) -> Path:
    """Where ``browser`` looks for host manifests for this user."""
    if browser not in BROWSERS:
        raise InstallError(f"unknown browser {browser!r}; use one of {', '.join(BROWSERS)}")
    if user_data_dir is not None:
        if browser == "firefox":
            raise InstallError("--user-data-dir applies to Chromium and Chrome only; Firefox "
                               "reads ~/.mozilla/native-messaging-hosts for every profile")
        return Path(user_data_dir).expanduser().resolve() / "NativeMessagingHosts"
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
        return {
            "chromium": base / "Chromium" / "NativeMessagingHosts",
            "chrome": base / "Google" / "Chrome" / "NativeMessagingHosts",
            "firefox": base / "Mozilla" / "NativeMessagingHosts",
        }[browser]
    if sys.platform == "win32":
        # The file can live anywhere; the registry entry points at it.
        from sessionmgr import paths

        return paths.data_dir() / "native-messaging" / browser
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return {
        "chromium": config / "chromium" / "NativeMessagingHosts",
        "chrome": config / "google-chrome" / "NativeMessagingHosts",
        "firefox": home / ".mozilla" / "native-messaging-hosts",
    }[browser]


def host_executable() -> Path:
    """The installed ``sessionmgr-helper`` console script, next to this Python first."""
    name = "sessionmgr-helper.exe" if sys.platform == "win32" else "sessionmgr-helper"
    scripts = Path(sys.executable).parent
    for candidate in (scripts / name, scripts / "Scripts" / name):
        if candidate.is_file():
            return candidate.resolve()
    found = shutil.which("sessionmgr-helper")
    if found:
        return Path(found).resolve()
    raise InstallError("cannot find the sessionmgr-helper program; is sessionmgr installed?")


def host_manifest(browser: str, host_path: Path) -> dict[str, object]:
    manifest: dict[str, object] = {
        "name": HOST_NAME,
        "description": DESCRIPTION,
        "path": str(host_path),
        "type": "stdio",
    }
    if browser == "firefox":
        manifest["allowed_extensions"] = [GECKO_ID]
    else:
        manifest["allowed_origins"] = [CHROMIUM_ORIGIN]
    return manifest


def _write_launcher(directory: Path, host: Path, env: dict[str, str]) -> Path:
    """A tiny script that pins the environment the host must see (the browser's may differ)."""
    launcher = directory / f"{HOST_NAME}.sh"
    lines = ["#!/bin/sh", "# Written by sessionmgr install-browser-helper."]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(f'exec {shlex.quote(str(host))} "$@"')
    launcher.write_text("\n".join(lines) + "\n", encoding="utf-8")
    launcher.chmod(0o755)
    return launcher


def _windows_registry(browser: str, manifest: Path | None) -> None:
    """Chromium and Firefox on Windows find the manifest through HKCU."""
    if sys.platform != "win32":
        return
    import winreg

    key = _WINDOWS_KEYS[browser] + "\\" + HOST_NAME
    if manifest is None:
        with contextlib.suppress(FileNotFoundError):
            winreg.DeleteKey(winreg.HKEY_CURRENT_USER, key)
        return
    with winreg.CreateKey(winreg.HKEY_CURRENT_USER, key) as handle:
        winreg.SetValueEx(handle, "", 0, winreg.REG_SZ, str(manifest))


def install(
    browser: str,
    *,
    user_data_dir: Path | None,
    uninstall: bool,
    host_path: Path | None = None,
) -> list[Path]:
    """Write (or remove) the host manifest for ``browser`` (or ``"all"``); return the files.

    When ``SESSIONMGR_HOME`` or ``SESSIONMGR_SECRETS`` is set, the manifest
    points at a launcher script that sets them for the host, so the helper
    finds the same daemon as this command would.
    """
    browsers: tuple[str, ...] = BROWSERS if browser == "all" else (browser,)
    if browser == "all" and user_data_dir is not None:
        browsers = ("chromium", "chrome")
    touched: list[Path] = []
    for name in browsers:
        directory = manifest_dir(name, user_data_dir=user_data_dir)
        manifest_path = directory / f"{HOST_NAME}.json"
        launcher_path = directory / f"{HOST_NAME}.sh"
        if uninstall:
            for path in (manifest_path, launcher_path):
                if path.exists():
                    path.unlink()
                    touched.append(path)
            if sys.platform == "win32" and user_data_dir is None:
                _windows_registry(name, None)
            continue
        host = host_path or host_executable()
        directory.mkdir(parents=True, exist_ok=True)
        env = {k: os.environ[k] for k in _PINNED_ENV if os.environ.get(k)}
        if env and sys.platform != "win32":
            host = _write_launcher(directory, host, env)
            touched.append(host)
        elif launcher_path.exists():
            launcher_path.unlink()
        manifest_path.write_text(
            json.dumps(host_manifest(name, host), indent=2) + "\n", encoding="utf-8"
        )
        touched.append(manifest_path)
        if sys.platform == "win32" and user_data_dir is None:
            _windows_registry(name, manifest_path)
    return touched


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--browser", choices=(*BROWSERS, "all"), default="all",
                        help="which browser to register the helper with (default: all)")
    parser.add_argument("--user-data-dir", type=Path, default=None, metavar="DIR",
                        help="a Chromium/Chrome started with --user-data-dir=DIR: write the "
                             "manifest to DIR/NativeMessagingHosts/")
    parser.add_argument("--uninstall", action="store_true", help="remove the manifests instead")


def run(args: argparse.Namespace) -> int:
    try:
        touched = install(args.browser, user_data_dir=args.user_data_dir,
                          uninstall=args.uninstall)
    except (InstallError, OSError) as e:
        print(f"sessionmgr install-browser-helper: {e}", file=sys.stderr)
        return 1
    verb = "removed" if args.uninstall else "wrote"
    for path in touched:
        print(f"{verb} {path}")
    if args.uninstall:
        if not touched:
            print("nothing to remove")
        return 0
    print()
    print(f"The extension is in {extension_dir()}")
    print(f"  Chromium/Chrome: chrome://extensions → Developer mode → Load unpacked → that "
          f"folder (its id must be {CHROMIUM_EXTENSION_ID})")
    print("  Firefox: about:debugging#/runtime/this-firefox → Load Temporary Add-on → its "
          "manifest.json, then allow it on all sites (about:addons → sessionmgr → Permissions)")
    return 0
