"""Build the Windows installer (.msi) with wixl (Debian package wixl) from a one-folder build.

    python packaging/windows/build_msi.py --dist DIR [--out dist]
    python packaging/windows/build_msi.py --stage-stand-in build/msi/layout   # Linux test

DIR is the PyInstaller folder the Windows build makes (sessionmgr.exe,
sessionmgr-cli.exe, sessionmgr-helper.exe, _internal/...). The MSI installs
per user (no admin prompt) into %LOCALAPPDATA%\\Programs\\sessionmgr with:

- a Start-menu shortcut "Session Manager";
- the native-messaging host manifests next to the executables (``"path"`` is
  relative, which Chrome, Edge and Firefox allow on Windows), registered under
  HKCU\\Software\\{Google\\Chrome, Microsoft\\Edge, Chromium, Mozilla}\\NativeMessagingHosts\\
  org.sessionmgr.helper;
- optionally (``msiexec /i ... ADDLOCAL=Main,Autostart``: the feature "Autostart"
  is off by default) the HKCU Run value "SessionManager",
  the same value the app's own "Start at login" switch writes.

Uninstalling removes all of it. GUIDs are derived from the paths (uuid5), so
upgrades keep component identities stable.

``--stage-stand-in DIR`` writes the Windows layout with everything that can be
produced on Linux (the package data at the places PyInstaller puts it) and
clearly marked stand-in files for the three .exe and the Python runtime, for
testing the installer mechanics under wine; it never ships.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path, PureWindowsPath
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from sessionmgr import __version__  # noqa: E402
from sessionmgr.helper import install  # noqa: E402

NAMESPACE = uuid.UUID("6a0c3a0e-6f0d-4d55-9e0a-5e551011f9a7")
UPGRADE_CODE = "5E551011-A9B1-4C3E-8D7F-0A11C0DE0007"
EXECUTABLES = ("sessionmgr.exe", "sessionmgr-cli.exe", "sessionmgr-helper.exe")
HOST = install.HOST_NAME
# Registry parents of the native-messaging host keys, and which manifest each reads.
REGISTRY = {
    r"Software\Google\Chrome\NativeMessagingHosts": "chrome",
    r"Software\Microsoft\Edge\NativeMessagingHosts": "chrome",
    r"Software\Chromium\NativeMessagingHosts": "chrome",
    r"Software\Mozilla\NativeMessagingHosts": "firefox",
}
MANIFEST_FILES = {"chrome": f"{HOST}.chromium.json", "firefox": f"{HOST}.firefox.json"}
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "SessionManager"  # sessionmgr/gui/autostart.py writes the same name


def guid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts))).upper()


def ident(prefix: str, *parts: str) -> str:
    return prefix + uuid.uuid5(NAMESPACE, "/".join(parts)).hex[:24]


def write_manifests(layout: Path) -> None:
    """The host manifests, from the same builder as ``install-browser-helper``."""
    for browser, name in MANIFEST_FILES.items():
        manifest = install.host_manifest(browser, PureWindowsPath("sessionmgr-helper.exe"))
        (layout / name).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def files_fragment(layout: Path) -> tuple[str, str]:
    """Directory tree and one component per file (what wixl-heat does, deterministically)."""
    lines: list[str] = []
    refs: list[str] = []

    def walk(directory: Path, depth: int) -> None:
        pad = "  " * depth
        for path in sorted(directory.iterdir(), key=lambda p: (p.is_dir(), p.name.lower())):
            rel = path.relative_to(layout).as_posix()
            if path.is_dir():
                lines.append(f'{pad}<Directory Id="{ident("d", rel)}" Name={quoteattr(path.name)}>')
                walk(path, depth + 1)
                lines.append(f"{pad}</Directory>")
                continue
            cid = ident("c", rel)
            refs.append(cid)
            lines.append(f'{pad}<Component Id="{cid}" Guid="{guid("file", rel)}">')
            lines.append(f'{pad}  <File Id="{ident("f", rel)}" KeyPath="yes" '
                         f'Source={quoteattr(rel)} Name={quoteattr(path.name)}/>')
            lines.append(f"{pad}</Component>")

    walk(layout, 5)
    component_refs = "\n".join(f'      <ComponentRef Id="{r}"/>' for r in refs)
    return "\n".join(lines), component_refs


def product(layout: Path) -> str:
    tree, file_refs = files_fragment(layout)
    registry = []
    for parent, browser in REGISTRY.items():
        key = f"{parent}\\{HOST}"
        registry.append(f"""
        <Component Id="{ident('r', key)}" Guid="{guid('reg', key)}">
          <RegistryKey Root="HKCU" Key={quoteattr(key)}>
            <RegistryValue Type="string" Value="[INSTALLDIR]{MANIFEST_FILES[browser]}"
                           KeyPath="yes"/>
          </RegistryKey>
        </Component>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Session Manager" Language="1033" Version="{__version__}"
           Manufacturer="sessionmgr developers" UpgradeCode="{UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perUser"
             Description="Session Manager {__version__}" Comments="sessionmgr"/>
    <Property Id="ALLUSERS" Value="2"/>
    <Property Id="MSIINSTALLPERUSER" Value="1"/>
    <Property Id="ARPNOMODIFY" Value="1"/>
    <MajorUpgrade DowngradeErrorMessage="A newer Session Manager is already installed."/>
    <Media Id="1" Cabinet="sessionmgr.cab" EmbedCab="yes"/>

    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="LocalAppDataFolder">
        <Directory Id="ProgramsDir" Name="Programs">
          <Directory Id="INSTALLDIR" Name="sessionmgr">
{tree}
          </Directory>
        </Directory>
      </Directory>
      <Directory Id="ProgramMenuFolder"/>
    </Directory>

    <DirectoryRef Id="INSTALLDIR">
      <Component Id="InstallDirCleanup" Guid="{guid('cleanup')}">
        <RemoveFolder Id="RemoveInstallDir" On="uninstall"/>
        <RegistryValue Root="HKCU" Key="Software\\sessionmgr" Name="InstallDir" Type="string"
                       Value="[INSTALLDIR]" KeyPath="yes"/>
      </Component>{''.join(registry)}
      <Component Id="Autostart" Guid="{guid('autostart')}">
        <RegistryValue Root="HKCU" Key="{RUN_KEY}" Name="{RUN_VALUE}" Type="string"
                       Value="&quot;[INSTALLDIR]sessionmgr.exe&quot;" KeyPath="yes"/>
      </Component>
    </DirectoryRef>
    <DirectoryRef Id="ProgramMenuFolder">
      <Component Id="StartMenuShortcut" Guid="{guid('shortcut')}">
        <Shortcut Id="AppShortcut" Name="Session Manager"
                  Description="See who you are signed in as on every site"
                  Target="[INSTALLDIR]sessionmgr.exe" WorkingDirectory="INSTALLDIR"/>
        <RegistryValue Root="HKCU" Key="Software\\sessionmgr" Name="StartMenuShortcut"
                       Type="integer" Value="1" KeyPath="yes"/>
      </Component>
    </DirectoryRef>

    <Feature Id="Main" Title="Session Manager" Level="1">
{file_refs}
      <ComponentRef Id="InstallDirCleanup"/>
{chr(10).join(f'      <ComponentRef Id="{ident("r", f"{p}{chr(92)}{HOST}")}"/>' for p in REGISTRY)}
      <ComponentRef Id="StartMenuShortcut"/>
    </Feature>
    <!-- Start at login: off unless asked for (msiexec /i ... ADDLOCAL=Main,Autostart). -->
    <Feature Id="Autostart" Title="Start at login" Level="1000">
      <ComponentRef Id="Autostart"/>
    </Feature>
  </Product>
</Wix>
"""


def stage_stand_in(layout: Path) -> Path:
    """The Windows layout with what Linux can honestly produce; executables are stand-ins."""
    shutil.rmtree(layout, ignore_errors=True)
    internal = layout / "_internal" / "sessionmgr"
    shutil.copytree(ROOT / "resources" / "icons", internal / "resources" / "icons")
    shutil.copytree(ROOT / "sessionmgr" / "helper" / "extension",
                    internal / "helper" / "extension")
    (internal / "api").mkdir(parents=True)
    shutil.copy(ROOT / "sessionmgr" / "api" / "openapi.json", internal / "api")
    note = ("STAND-IN written by packaging/windows/build_msi.py --stage-stand-in for the wine "
            "installer test on Linux; the real file comes from the Windows PyInstaller build.\n")
    for name in (*EXECUTABLES, "_internal/python311.dll", "_internal/base_library.zip"):
        (layout / name).write_text(note, encoding="utf-8")
    return layout


def build(dist: Path, out: Path) -> Path:
    missing = [name for name in EXECUTABLES if not (dist / name).is_file()]
    if missing:
        raise SystemExit(f"{dist} is not a Windows one-folder build: missing {missing}")
    work = ROOT / "build" / "msi"
    layout = work / "layout"
    if layout.resolve() != dist.resolve():
        shutil.rmtree(layout, ignore_errors=True)
        shutil.copytree(dist, layout)
    write_manifests(layout)
    wxs = work / "sessionmgr.wxs"
    wxs.write_text(product(layout), encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    msi = out / f"sessionmgr-{__version__}-x64.msi"
    # wixl resolves File/@Source relative to the working directory only.
    subprocess.run(["wixl", "--arch", "x64", "-o", str(msi), str(wxs)], check=True, cwd=layout)
    return msi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, help="the Windows one-folder build")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--stage-stand-in", type=Path, metavar="DIR",
                        help="write a stand-in Windows layout to DIR (for the wine test) and "
                             "build from it")
    args = parser.parse_args(argv)
    if args.stage_stand_in:
        args.dist = stage_stand_in(args.stage_stand_in.resolve())
    if args.dist is None:
        parser.error("--dist or --stage-stand-in is required")
    print(build(args.dist.resolve(), args.out.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
