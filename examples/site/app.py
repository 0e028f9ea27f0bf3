"""An example site on the sessionmgr site kit: password accounts, a login page,
a page that knows who you are, and a state-changing API protected by the CSRF
twin token. Standard library only (wsgiref) plus sessionmgr[site].

    python examples/site/app.py --port 8000
    # then open http://127.0.0.1:8000/ in a browser with the sessionmgr extension;
    # accounts: alice@example.com / alice-password, bob@example.com / bob-password
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sessionmgr.site import Identity, SessionKit, passwords

DEMO_ACCOUNTS = {
    "alice@example.com": "alice-password",
    "bob@example.com": "bob-password",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script src="/_sessions/sessions.js"></script>
<style>body {{ font-family: sans-serif; max-width: 40em; margin: 2em auto; }}</style>
</head>
<body>
{body}
</body>
</html>
"""

HOME = """<h1>Example site</h1>
<p>Signed in as: <strong id="who">{who}</strong></p>
{actions}
<section id="signin" {hidden}>
<h2>Sign in</h2>
{form}
</section>
<script>
  // Signing in happens on this page: sessionmgr's "log in" and "switch" land
  // here, and the next declaration (the new account, active) is the answer.
  siteSessions.on("identify", (options) => {{
    document.getElementById("signin").hidden = false;
    if (options.account) document.getElementById("email").value = options.account;
    document.getElementById("password").focus();
  }});
  // Keep the page in step when sessionmgr (or another tab) signs in or out.
  const shown = document.getElementById("who").dataset.email || null;
  siteSessions.on("login", (id) => {{ if (id !== shown) location.reload(); }});
  siteSessions.on("logout", () => {{ if (shown) location.reload(); }});
  const out = document.getElementById("signout");
  if (out) out.addEventListener("click", () => siteSessions.unidentify());
  const save = document.getElementById("save");
  if (save) save.addEventListener("click", async () => {{
    const r = await siteSessions.fetch("/api/note", {{
      method: "POST", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{note: document.getElementById("note").value}}),
    }});
    document.getElementById("saved").textContent = r.ok ? "saved" : "refused: " + r.status;
  }});
</script>
"""

SIGNED_IN = """<p><input id="note" placeholder="a note" value="{note}">
<button id="save">Save note</button> <span id="saved"></span></p>
<p><button id="signout">Sign out</button></p>"""

ANONYMOUS = ""

FORM = """<form id="form">
  <p><label>Account <input id="email" name="email" value="{account}" autocomplete="username">
  </label></p>
  <p><label>Password <input id="password" name="password" type="password"
     autocomplete="current-password"></label></p>
  <p><button id="submit" type="submit">Sign in</button> <span id="error"></span></p>
</form>
<script>
  document.getElementById("form").addEventListener("submit", async (event) => {{
    event.preventDefault();
    const r = await siteSessions.loginWithPassword(
      document.getElementById("email").value, document.getElementById("password").value);
    if (r.ok) {{
      if (location.pathname !== "/login") return; // the "login" listener reloads the page
      const next = new URLSearchParams(location.search).get("next") || "/";
      location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
    }} else {{
      document.getElementById("error").textContent = "Wrong account or password";
    }}
  }});
</script>
"""


class ExampleSite:
    """The application; ``kit`` wraps it and is what a WSGI server runs."""

    def __init__(self, accounts: dict[str, str] | None = None, **kit_options: Any) -> None:
        self.hashes = {email: passwords.hash(pw) for email, pw in
                       (accounts or DEMO_ACCOUNTS).items()}
        self.notes: dict[str, str] = {}
        self.sessions: dict[str, Identity] = {}  # sid -> identity, as persona-id's example keeps
        self.log: list[tuple[str, str, str | None]] = []  # ("create"|"destroy", sid, email)
        self.lock = threading.Lock()
        kit_options.setdefault("login_url", "/login")
        self.kit = SessionKit(self.app, check_password=self.check_password, **kit_options)
        self.kit.on_create(self._created)
        self.kit.on_destroy(self._destroyed)

    def check_password(self, email: str, password: str) -> bool:
        hashed = self.hashes.get(email)
        return hashed is not None and passwords.verify(password, hashed)

    def _created(self, sid: str, identity: Identity) -> None:
        with self.lock:
            self.sessions[sid] = identity
            self.log.append(("create", sid, identity.email))

    def _destroyed(self, sid: str) -> None:
        with self.lock:
            identity = self.sessions.pop(sid, None)
            self.log.append(("destroy", sid, identity.email if identity else None))

    # ---- the application

    def app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ["REQUEST_METHOD"]
        email = self.kit.identity(environ)
        if path == "/" and method == "GET":
            if email:
                actions = SIGNED_IN.format(note=html.escape(self.notes.get(email, "")))
            else:
                actions = ANONYMOUS
            body = HOME.format(who=html.escape(email or "nobody"), actions=actions,
                               hidden="hidden" if email else "", form=FORM.format(account=""))
            body = body.replace('id="who"', f'id="who" data-email="{html.escape(email or "")}"')
            return self._html(start, "Example site", body)
        if path == "/login" and method == "GET":
            from urllib.parse import parse_qs

            account = parse_qs(environ.get("QUERY_STRING", "")).get("account", [""])[0]
            page = "<h1>Sign in</h1>\n" + FORM.format(account=html.escape(account))
            return self._html(start, "Sign in", page)
        if path == "/api/me" and method == "GET":
            return self._json(start, "200 OK", {"email": email})
        if path == "/api/note" and method == "POST":
            if not email:
                return self._json(start, "401 Unauthorized", {"error": {"code": "not_signed_in"}})
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                note = json.loads(environ["wsgi.input"].read(min(length, 4096)))["note"]
            except (ValueError, KeyError, TypeError):
                return self._json(start, "400 Bad Request", {"error": {"code": "bad_request"}})
            self.notes[email] = str(note)[:200]
            return self._json(start, "200 OK", {"email": email, "note": self.notes[email]})
        return self._json(start, "404 Not Found", {"error": {"code": "not_found"}})

    @staticmethod
    def _html(start: Callable[..., Any], title: str, body: str) -> Iterable[bytes]:
        data = PAGE.format(title=title, body=body).encode("utf-8")
        start("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                         ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
        return [data]

    @staticmethod
    def _json(start: Callable[..., Any], status: str, body: Any) -> Iterable[bytes]:
        data = json.dumps(body).encode("utf-8")
        start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str = "127.0.0.1", port: int = 0, **options: Any) -> tuple[Any, ExampleSite]:
    """A bound server (not yet serving) and the site; the audience is the bound host:port."""
    server = make_server(host, port, lambda e, s: [], ThreadingWSGIServer, QuietHandler)
    audience = f"{host}:{server.server_address[1]}"
    site = ExampleSite(audience=audience, **options)
    server.set_app(site.kit)
    return server, site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server, _site = serve(args.host, args.port)
    print(f"example site on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
