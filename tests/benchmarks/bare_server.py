"""The baseline for the API: a minimal stdlib JSON server doing the same parse and reply.

``ThreadingHTTPServer``, HTTP/1.1 keep-alive, Nagle disabled. ``PUT`` parses
the JSON body and answers a SiteState-sized JSON object; ``GET /v1/sites``
answers the JSON of a site list given in a file (``--sites FILE``), encoded on
each request as the real server does. Prints ``bare-server: URL`` when listening.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SITES: list[Any] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        declared = json.loads(self.rfile.read(length))
        sessions = declared.get("sessions") or []
        active = sessions[0]["email"] if sessions else None
        self._reply({
            "site": self.path.split("/")[3], "supported": True, "indicator": active or "login",
            "active": active,
            "sessions": [{"email": s["email"], "status": "active" if i == 0 else "passive",
                          "bound_to": s.get("bound_to")} for i, s in enumerate(sessions)],
            "binding": None, "source": "declared", "pending": None, "persistent": None,
            "updated_at": "2026-01-01T00:00:00+00:00", "focused": False, "attention": None,
        })

    def do_GET(self) -> None:
        self._reply({"sites": SITES} if self.path == "/v1/sites" else {"status": "ok"})


def main(argv: list[str]) -> int:
    if "--sites" in argv:
        with open(argv[argv.index("--sites") + 1], encoding="utf-8") as handle:
            SITES.extend(json.load(handle))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"bare-server: http://127.0.0.1:{server.server_address[1]}", flush=True)
    stop.wait(3600)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
