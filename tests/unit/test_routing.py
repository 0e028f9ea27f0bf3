"""Which route a request path reaches, and with which parameters: the segment
matcher against every template the API serves."""

from __future__ import annotations

import pytest

from sessionmgr.api import routes
from sessionmgr.api.guards import ApiError


def test_every_template_matches_itself_with_its_names_as_values() -> None:
    for route in routes.all_routes():
        path = "/".join(seg[1:-1] if seg.startswith("{") else seg for seg in route.segments)
        found, params = routes.match(route.method, path)
        assert found.name == route.name
        assert params == {seg[1:-1]: seg[1:-1] for seg in route.segments if seg.startswith("{")}


def test_parameters_are_percent_decoded() -> None:
    found, params = routes.match("POST", "/v1/sites/b%C3%BCcher.example/login")
    assert found.name == "/v1/sites/{site}/login"
    assert params == {"site": "bücher.example"}


@pytest.mark.parametrize("path", [
    "/v1/sites//login",          # a parameter is never empty
    "/v1/sites/a/b/login",       # nor more than one segment
    "/v1/health/",               # no trailing slash
    "v1/health",                 # nor a missing leading one
    "/v1/health/extra",
    "/v1",
    "",
])
def test_paths_no_template_takes_are_404(path: str) -> None:
    with pytest.raises(ApiError) as info:
        routes.match("GET", path)
    assert (info.value.status, info.value.code) == (404, "not_found")


def test_a_known_path_with_another_method_is_405_naming_the_allowed_ones() -> None:
    with pytest.raises(ApiError) as info:
        routes.match("PUT", "/v1/sites/example.com")
    assert (info.value.status, info.value.code) == (405, "method_not_allowed")
    assert info.value.headers == {"Allow": "DELETE, GET"}
