"""The OpenAPI document: served as checked in, complete, and true to the server.

schemathesis generates requests from the served document against a real daemon
and checks every answer: no 5xx, the documented status codes, content types and
response schemas, and 405 (with Allow) for methods a path does not have.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sessionmgr.api import routes
from tests.conftest import ROOT

DOCUMENT = ROOT / "sessionmgr" / "api" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "unsupported_method",
)


def load_document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT.read_text(encoding="utf-8")))


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_served_document_equals_the_file(daemon: Any) -> None:
    answer = daemon.request("GET", "/v1/openapi.json", token=None)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == load_document()


def test_every_route_is_documented_and_nothing_else() -> None:
    served = {(route.method, route.name) for route in routes.all_routes()}
    documented = documented_operations(load_document())
    assert served - documented == set(), "routes missing from openapi.json"
    assert documented - served == set(), "openapi.json documents routes the server lacks"


def test_who_may_call_matches_the_security_of_each_operation() -> None:
    document = load_document()
    expected = {"anyone": [], "poll": [{"pollSecret": []}]}
    for route in routes.all_routes():
        operation = document["paths"][route.name][route.method.lower()]
        assert operation["security"] == expected.get(route.who, [{"bearerToken": []}]), route.name
        if route.who in ("helper", "owner"):
            assert "401" in operation["responses"], route.name
            assert "403" in operation["responses"], route.name


def test_the_file_is_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_document_holds_the_contract_limits() -> None:
    schemas = load_document()["components"]["schemas"]
    identifier = schemas["Identifier"]
    assert (identifier["minLength"], identifier["maxLength"]) == (1, 254)
    assert re.fullmatch(identifier["pattern"], "ann@example.com")
    for control in ("\x00", "\x1f", "\x7f", "\x85", "\x9f"):
        assert not re.fullmatch(identifier["pattern"], f"a{control}b"), repr(control)
    declaration = schemas["Declaration"]
    assert declaration["required"] == ["sessions"]
    sessions = declaration["properties"]["sessions"]["oneOf"]
    assert {"type": "null"} in sessions
    assert [s["maxItems"] for s in sessions if s.get("type") == "array"] == [100]
    assert declaration["properties"]["cookies"]["maxItems"] == 500
    binding = schemas["BindingInput"]
    assert binding["properties"]["type"] == {
        "const": "cookie",
        "description": "The only binding type.",
    }
    assert binding["anyOf"] == [{"required": ["cookie_name"]}, {"required": ["name"]}]
    assert schemas["SessionInput"]["properties"]["status"]["allOf"] == [
        {"$ref": "#/components/schemas/Status"}
    ]
    assert schemas["Status"]["enum"] == ["active", "passive"]
    assert (
        "65536 bytes"
        in load_document()["components"]["responses"]["PayloadTooLarge"]["description"]
    )


def test_no_token_or_secret_appears_in_the_document(daemon: Any) -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    assert daemon.token not in text
    assert not re.search(r"[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}", text)
    assert not re.search(r"whsec_[A-Za-z0-9+/=]{8,}", text)
    assert '"example"' not in text


@pytest.mark.slow
def test_schemathesis_finds_no_violation(daemon: Any, tmp_path: Path) -> None:
    # A known site with accounts, so login/logout/get reach the state machine, not only 404s.
    seeded = daemon.request(
        "PUT",
        "/v1/sites/example.com/declaration",
        json={
            "sessions": [
                {"email": "ann", "bound_to": {"type": "cookie", "cookie_name": "sid"}},
                {"email": "bob", "status": "passive"},
            ],
            "cookies": ["sid"],
        },
    )
    assert seeded.status_code == 200, seeded.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        'headers = { Authorization = "Bearer ${SESSIONMGR_TEST_TOKEN}" }\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["SESSIONMGR_TEST_TOKEN"] = daemon.token  # not on the command line
    env["SCHEMATHESIS_TELEMETRY"] = "false"
    seed = os.environ.get("SESSIONMGR_SCHEMATHESIS_SEED", "20240601")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{daemon.url}/v1/openapi.json",
        "--url",
        daemon.url,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        "25",
        "--workers",
        "1",  # hypothesis' lambda descriptions are not thread-safe on Python 3.11
        "--seed",
        seed,
        "--request-timeout",
        "10",
        "--no-color",
    ]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = result.stdout + result.stderr
    tail = output[-12000:]
    assert result.returncode == 0, tail
    # Every operation but GET /v1/openapi.json (schemathesis skips the document itself).
    expected = len(documented_operations(load_document())) - 1
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None and int(tested.group(1)) == expected, tail
    assert daemon.token not in output
    log = (daemon.home / "logs" / "sessionmgr.log").read_text(encoding="utf-8")
    assert "Traceback" not in log
    assert "bug while handling" not in log
