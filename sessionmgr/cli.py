"""The command line: ``sessionmgr`` (tray app), ``serve`` (headless daemon) and
commands that talk to the running daemon through its loopback API."""

from __future__ import annotations

import gc
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sessionmgr import __version__, paths

if TYPE_CHECKING:  # argparse loads only when there are arguments to parse
    import argparse

EXAMPLES = """\
examples:
  sessionmgr                                  start the tray app (with the daemon inside)
  sessionmgr serve --port 0                   run the daemon headless on any free port
  sessionmgr status                           is it running, where, and how secrets are kept
  sessionmgr declare example.com --sessions '[{"email": "bear@example.com"}]'
  sessionmgr sites                            who is signed in where
  sessionmgr login example.com --as bob@example.com --stay-signed-in
  sessionmgr logout example.com               or: sessionmgr logout --all
  sessionmgr events --site example.com        login/logout events and their deliveries
  sessionmgr helpers list                     paired browser helpers and pairing requests
  sessionmgr install-browser-helper --browser chromium
"""


class CliError(Exception):
    """A message for the user; exit code 1."""


# -- talking to the daemon ------------------------------------------------------


class Client:
    """The running daemon, as its owner: the helper's loopback client with the token
    from endpoint.json (which a helper never reads)."""

    def __init__(self) -> None:
        from sessionmgr.helper.daemon_client import DaemonClient, DaemonUnavailable, read_endpoint

        endpoint = paths.endpoint_path()
        try:
            self.url = read_endpoint(endpoint).url
            self._token = str(json.loads(endpoint.read_text(encoding="utf-8"))["token"])
        except DaemonUnavailable as exc:
            raise CliError(f"{exc}; start it with `sessionmgr` or `sessionmgr serve`") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"cannot read {endpoint}: {exc}") from None
        self._daemon = DaemonClient(endpoint)

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        import urllib.parse

        from sessionmgr.helper.daemon_client import DaemonError, DaemonUnavailable

        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        try:
            return self._daemon.request(
                method,
                f"{path}?{query}" if query else path,
                token=self._token,
                body=body if method in ("POST", "PUT", "PATCH") else None,
                timeout=30,
            )
        except DaemonUnavailable:
            raise CliError(
                f"sessionmgr is not answering at {self.url}; it may have stopped uncleanly."
                " Start it again with `sessionmgr` or `sessionmgr serve`"
            ) from None
        except DaemonError as exc:
            raise CliError(f"{exc.message} [{exc.code}]") from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


# -- commands ------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    gc.disable()  # until the daemon is open (daemon.kept_for_good): imports make no garbage
    from sessionmgr import log
    from sessionmgr.daemon import Daemon, kept_for_good
    from sessionmgr.errors import AlreadyRunning
    from sessionmgr.security.secrets import SecretStoreError
    from sessionmgr.store.db import StoreError

    if args.host != "127.0.0.1":
        print(
            f"sessionmgr: refusing to listen on {args.host}: the API is for this machine only,"
            " so it listens on 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    log.setup(args.log_level, log_dir=paths.log_dir())
    try:
        with kept_for_good():
            daemon = Daemon.open(port=args.port, require_keyring=args.require_keyring)
    except (AlreadyRunning, SecretStoreError, StoreError) as exc:
        print(f"sessionmgr: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"sessionmgr: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.start()
        print(f"sessionmgr {__version__} serving on {daemon.url}", flush=True)
        while not stop.wait(3600):
            pass
    finally:
        daemon.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = Client().call("GET", "/v1/status")
    if args.json:
        _print_json(status)
        return 0
    print(f"sessionmgr {status['version']} running at {status['url']} (pid {status['pid']})")
    print(f"secrets: {status['secrets']}")
    print(f"database: {status['database']}")
    print(f"sites: {status['sites']} ({status['signed_in']} signed in)")
    print(
        f"paired helpers: {status['helpers']},"
        f" pairing requests waiting: {status['pending_pairings']}"
    )
    print(f"undelivered events: {status['undelivered']}")
    return 0


def cmd_sites(args: argparse.Namespace) -> int:
    sites = Client().call("GET", "/v1/sites")["sites"]
    if args.json:
        _print_json(sites)
        return 0
    if not sites:
        print(
            "no sites yet: pages that use the Sessions API appear here once a browser"
            " helper reports them"
        )
        return 0
    for state in sites:
        if not state["supported"]:
            shown = "(no Sessions API)"
        elif state["active"]:
            shown = f"signed in as {state['active']}"
        else:
            shown = "not signed in"
        others = [s["email"] for s in state["sessions"] if s["status"] == "passive"]
        extra = []
        if others:
            extra.append("also known: " + ", ".join(others))
        if state["persistent"]:
            extra.append(f"stays signed in until {_when(state['persistent']['expires'])}")
        if state["pending"]:
            extra.append(f"waiting for the site ({state['pending']['type']})")
        if state["attention"]:
            extra.append(state["attention"]["message"])
        print(f"{state['site']}: {shown}" + "".join(f"\n    {line}" for line in extra))
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    event = Client().call(
        "POST",
        f"/v1/sites/{_quote(args.site)}/login",
        {"id": args.account, "persistent": args.stay_signed_in},
    )["event"]
    target = event["account"] or "(the site's login)"
    verb = (
        f"switch from {event['previous']} to {target}"
        if event["previous"]
        else f"log in as {target}"
    )
    print(f"asked {event['site']} to {verb}; event {event['id']}")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    client = Client()
    if args.all:
        if args.site:
            raise CliError("give a site or --all, not both")
        events = client.call("POST", "/v1/logout-all", {})["events"]
        if not events:
            print("nobody is signed in anywhere")
        for event in events:
            print(f"asked {event['site']} to log out {event['account']}; event {event['id']}")
        return 0
    if not args.site:
        raise CliError("name a site to log out of, or use --all")
    event = client.call("POST", f"/v1/sites/{_quote(args.site)}/logout", {})["event"]
    print(f"asked {event['site']} to log out {event['account']}; event {event['id']}")
    return 0


def cmd_declare(args: argparse.Namespace) -> int:
    try:
        sessions = json.loads(args.sessions)
    except ValueError as exc:
        raise CliError(f"--sessions is not valid JSON: {exc}") from None
    body = {"sessions": sessions, "cookies": args.cookie or [], "focused": args.focused}
    state = Client().call("PUT", f"/v1/sites/{_quote(args.site)}/declaration", body)
    print(f"{state['site']}: indicator {state['indicator']!r}, source {state['source']}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    events = Client().call("GET", "/v1/events", site=args.site, limit=args.limit)["events"]
    if args.json:
        _print_json(events)
        return 0
    if not events:
        print("no events yet")
    for event in events:
        who = event["account"] or "(login)"
        if event["previous"]:
            who = f"{event['previous']} -> {who}"
        print(
            f"{_when(event['created_at'])}  {event['type']:6} {event['site']}  {who}"
            f"  [{event['outcome']}]"
        )
        for delivery in event["deliveries"]:
            error = f": {delivery['last_error']}" if delivery["last_error"] else ""
            print(
                f"    helper {delivery['helper_id'][:8]}  {delivery['status']}"
                f" after {delivery['attempts']} attempt(s){error}"
            )
    return 0


def cmd_helpers(args: argparse.Namespace) -> int:
    client = Client()
    if args.action == "list":
        helpers = client.call("GET", "/v1/helpers")["helpers"]
        pairings = client.call("GET", "/v1/pairings")["pairings"]
        if args.json:
            _print_json({"helpers": helpers, "pairings": pairings})
            return 0
        for pairing in pairings:
            if pairing["status"] == "pending":
                print(
                    f"pairing request {pairing['id']}: {pairing['name']}"
                    f" ({pairing['origin'] or 'no origin'}), code {pairing['code']}:"
                    f" approve with `sessionmgr helpers approve {pairing['id']}`"
                )
        if not helpers:
            print("no paired helpers")
        for helper in helpers:
            print(
                f"{helper['id']}  {helper['name']}  [{helper['status']}]  code {helper['code']}"
                f"  last seen {_when(helper['last_seen'])}"
            )
        return 0
    if args.action in ("approve", "reject"):
        if not args.id:
            raise CliError(f"give the pairing request id to {args.action}")
        result = client.call("POST", f"/v1/pairings/{_quote(args.id)}/{args.action}", {})
        print(f"pairing {args.id} {result['status']}")
        return 0
    if args.action == "revoke":
        if args.all:
            helpers = [
                h for h in client.call("GET", "/v1/helpers")["helpers"] if h["status"] == "active"
            ]
            for helper in helpers:
                client.call("DELETE", f"/v1/helpers/{_quote(helper['id'])}")
            print(f"revoked {len(helpers)} helper(s)")
            return 0
        if not args.id:
            raise CliError("give the helper id to revoke, or --all")
        client.call("DELETE", f"/v1/helpers/{_quote(args.id)}")
        print(f"helper {args.id} revoked; its token no longer works")
        return 0
    raise CliError(f"unknown action {args.action}")


def cmd_gui(args: argparse.Namespace | None) -> int:
    """The tray app (``args`` is None when there were no arguments to parse)."""
    # No collector passes from the first import until the daemon is open and everything
    # made so far is frozen (daemon.kept_for_good): imports make little garbage (~600
    # objects), and the passes over what they make took ~7 ms of start-up.
    gc.disable()
    try:
        from sessionmgr.app import run

        if args is None:
            return run(sys.argv[:1])
        return run(sys.argv[:1] + list(args.qt_args or []), require_keyring=args.require_keyring)
    finally:
        gc.enable()


def _quote(value: str) -> str:
    import urllib.parse

    return urllib.parse.quote(value, safe="")


# -- parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="sessionmgr",
        description="See who you are signed in as on every site; log in, log out or switch"
        " accounts from the system tray.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sessionmgr {__version__}")
    parser.add_argument(
        "--require-keyring",
        action="store_true",
        help="refuse to start when no OS keyring is usable (instead of the 0600 file fallback)",
    )
    parser.set_defaults(func=cmd_gui, qt_args=[])
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the daemon headless until SIGTERM/SIGINT")
    serve.add_argument(
        "--port", type=int, default=None, help="port on 127.0.0.1 (0: any free port)"
    )
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    serve.add_argument(
        "--require-keyring", action="store_true", help="refuse to start without an OS keyring"
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(func=cmd_serve)

    status = sub.add_parser("status", help="show whether the daemon runs and how")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    sites = sub.add_parser("sites", help="list sites and who is signed in")
    sites.add_argument("--json", action="store_true")
    sites.set_defaults(func=cmd_sites)

    login = sub.add_parser("login", help="log in to a site, or switch account")
    login.add_argument("site")
    login.add_argument(
        "--as", dest="account", metavar="ID", help="the account to log in as / switch to"
    )
    login.add_argument(
        "--stay-signed-in", action="store_true", help="remember this login (persistent login)"
    )
    login.set_defaults(func=cmd_login)

    logout = sub.add_parser("logout", help="log out of a site, or of all sites with --all")
    logout.add_argument("site", nargs="?")
    logout.add_argument("--all", action="store_true")
    logout.set_defaults(func=cmd_logout)

    declare = sub.add_parser("declare", help="declare a site's sessions by hand (testing, scripts)")
    declare.add_argument("site")
    declare.add_argument("--sessions", required=True, help="JSON: an array of sessions, or null")
    declare.add_argument(
        "--cookie", action="append", metavar="NAME", help="a cookie name present for the site"
    )
    declare.add_argument("--focused", action="store_true", help="make it the focused site")
    declare.set_defaults(func=cmd_declare)

    events = sub.add_parser("events", help="list login/logout events and their deliveries")
    events.add_argument("--site")
    events.add_argument("--limit", type=int, default=50)
    events.add_argument("--json", action="store_true")
    events.set_defaults(func=cmd_events)

    helpers = sub.add_parser(
        "helpers", help="paired browser helpers: list, approve, reject, revoke"
    )
    helpers.add_argument("action", choices=["list", "approve", "reject", "revoke"])
    helpers.add_argument("id", nargs="?")
    helpers.add_argument("--all", action="store_true", help="with revoke: every helper")
    helpers.add_argument("--json", action="store_true")
    helpers.set_defaults(func=cmd_helpers)

    try:
        from sessionmgr.helper import install
    except ImportError:  # pragma: no cover - the helper package is part of every install
        install = None  # type: ignore[assignment]
    if install is not None and hasattr(install, "add_arguments"):
        browser = sub.add_parser(
            "install-browser-helper", help="install the native-messaging host for a browser"
        )
        install.add_arguments(browser)
        browser.set_defaults(func=install.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if not arguments:
            # The tray app, started at every login: no parser to build (argparse and every
            # subcommand's imports cost ~10 ms of start-up). Through cmd_gui, which the
            # frozen Qt-free sessionmgr-cli replaces with a hand-over to the Qt executable.
            return int(cmd_gui(None) or 0)
        args = build_parser().parse_args(arguments)
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"sessionmgr: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
