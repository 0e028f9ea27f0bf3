"""The command line against a real daemon, as a person would type it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, daemon_env


def cli(
    home: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = daemon_env(home)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "sessionmgr", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_and_help_with_examples(tmp_path: Path) -> None:
    version = cli(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("sessionmgr ")
    usage = cli(tmp_path, "--help")
    assert usage.returncode == 0
    assert "examples:" in usage.stdout and "sessionmgr login example.com --as" in usage.stdout


def test_commands_say_clearly_when_no_daemon_runs(tmp_path: Path) -> None:
    for args in (["status"], ["sites"], ["logout", "--all"], ["events"]):
        result = cli(tmp_path, *args)
        assert result.returncode == 1, args
        assert "sessionmgr is not running" in result.stderr
        assert "Traceback" not in result.stderr


def test_serve_refuses_anything_but_loopback(tmp_path: Path) -> None:
    result = cli(tmp_path, "serve", "--host", "0.0.0.0")  # noqa: S104 - must be refused
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr


def test_the_tray_app_without_a_display_points_to_serve(tmp_path: Path) -> None:
    env = {k: v for k, v in daemon_env(tmp_path).items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run(
        [sys.executable, "-m", "sessionmgr"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "no graphical display" in result.stderr and "sessionmgr serve" in result.stderr


def test_status_declare_sites_login_events_logout(daemon: DaemonProcess) -> None:
    home = daemon.home
    status = cli(home, "status")
    assert status.returncode == 0, status.stderr
    assert "secrets: file (no OS keyring)" in status.stdout and daemon.url in status.stdout
    assert json.loads(cli(home, "status", "--json").stdout)["url"] == daemon.url

    sessions = json.dumps(
        [{"email": "bear@example.com"}, {"email": "bob@example.com", "status": "passive"}]
    )
    declared = cli(home, "declare", "Example.com", "--sessions", sessions, "--cookie", "SID")
    assert declared.returncode == 0 and "indicator 'bear@example.com'" in declared.stdout
    sites = cli(home, "sites")
    assert "example.com: signed in as bear@example.com" in sites.stdout
    assert "also known: bob@example.com" in sites.stdout

    switched = cli(home, "login", "example.com", "--as", "bob@example.com", "--stay-signed-in")
    assert switched.returncode == 0
    assert "switch from bear@example.com to bob@example.com" in switched.stdout
    [event] = json.loads(cli(home, "events", "--json").stdout)
    assert (event["type"], event["account"], event["persistent"]) == (
        "login",
        "bob@example.com",
        True,
    )
    assert "waiting for the site (login)" in cli(home, "sites").stdout

    conflict = cli(home, "login", "example.com", "--as", "nobody@example.com")
    assert conflict.returncode == 1
    assert "unknown_account" in conflict.stderr and "Traceback" not in conflict.stderr

    out = cli(home, "logout", "example.com")
    assert out.returncode == 0 and "log out bear@example.com" in out.stdout
    everything = cli(home, "logout", "--all")
    assert everything.returncode == 0 and "log out bear@example.com" in everything.stdout
    assert cli(home, "logout").returncode == 1


def test_bad_sessions_json_is_a_clear_error(daemon: DaemonProcess) -> None:
    result = cli(daemon.home, "declare", "example.com", "--sessions", "[{")
    assert result.returncode == 1 and "--sessions is not valid JSON" in result.stderr
    invalid = cli(daemon.home, "declare", "example.com", "--sessions", '[{"email": ""}]')
    assert invalid.returncode == 1 and "sessions[0].email" in invalid.stderr


def test_helpers_list_approve_and_revoke(daemon: DaemonProcess) -> None:
    ticket = daemon.request(
        "POST",
        "/v1/pairings",
        token=None,
        json={"name": "Chromium test", "events_url": "http://127.0.0.1:9/e"},
    ).json()
    listed = cli(daemon.home, "helpers", "list")
    assert ticket["id"] in listed.stdout and ticket["code"] in listed.stdout
    approved = cli(daemon.home, "helpers", "approve", ticket["id"])
    assert approved.returncode == 0 and "approved" in approved.stdout
    helpers = json.loads(cli(daemon.home, "helpers", "list", "--json").stdout)["helpers"]
    assert [h["name"] for h in helpers] == ["Chromium test"]
    revoked = cli(daemon.home, "helpers", "revoke", "--all")
    assert revoked.returncode == 0 and "revoked 1 helper" in revoked.stdout
    assert (
        json.loads(cli(daemon.home, "helpers", "list", "--json").stdout)["helpers"][0]["status"]
        == "revoked"
    )
    missing = cli(daemon.home, "helpers", "approve")
    assert missing.returncode == 1 and "pairing request id" in missing.stderr


def test_install_browser_helper_writes_and_removes_a_manifest(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    installed = cli(
        tmp_path, "install-browser-helper", "--browser", "chromium", "--user-data-dir", str(profile)
    )
    assert installed.returncode == 0, installed.stderr
    manifest = profile / "NativeMessagingHosts" / "org.sessionmgr.helper.json"
    data = json.loads(manifest.read_text())
    assert data["allowed_origins"] == ["chrome-extension://kcjlcmohpnapdokpbjgjpjnhdgajbkpn/"]
    assert os.access(data["path"], os.X_OK)
    removed = cli(
        tmp_path,
        "install-browser-helper",
        "--browser",
        "chromium",
        "--user-data-dir",
        str(profile),
        "--uninstall",
    )
    assert removed.returncode == 0 and not manifest.exists()


def test_events_filter_by_site_and_limit(daemon: DaemonProcess) -> None:
    for site in ("a.example", "b.example"):
        cli(daemon.home, "declare", site, "--sessions", '[{"email": "x"}]')
        cli(daemon.home, "logout", site)
    only_a = json.loads(cli(daemon.home, "events", "--site", "A.example", "--json").stdout)
    assert [e["site"] for e in only_a] == ["a.example"]
    assert len(json.loads(cli(daemon.home, "events", "--limit", "1", "--json").stdout)) == 1
    bad = cli(daemon.home, "events", "--limit", "0")
    assert bad.returncode == 1 and "limit" in bad.stderr


def test_no_arguments_starts_the_tray_through_cmd_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frozen Qt-free sessionmgr-cli replaces cmd_gui with a hand-over to the Qt
    executable: the no-argument fast path must go through it too."""
    from sessionmgr import cli

    calls: list[object] = []
    monkeypatch.setattr(cli, "cmd_gui", lambda args: calls.append(args) or 7)
    assert cli.main([]) == 7
    assert calls == [None]
