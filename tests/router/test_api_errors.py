"""Programs calling the API get JSON errors, also for paths and methods that do not exist."""
from __future__ import annotations

import pytest

ADMIN = {"Authorization": "Bearer admin-secret-token"}


@pytest.mark.parametrize("method, path", [("GET", "/v1/nope"), ("POST", "/v1/nope/deeper"), ("GET", "/v1/admin/nope")])
def test_an_unknown_api_path_is_a_json_404_naming_the_path(make_runtime, client_for, method, path):
    r = client_for(make_runtime()).open(path, method=method, headers=ADMIN)
    assert r.status_code == 404 and r.is_json
    assert r.get_json() == {"success": False, "errors": [
        {"path": "", "message": f"no such path: {method} {path} (the API is described at /openapi.json)"}]}


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/v1/track", "OPTIONS, POST"),
    ("DELETE", "/v1/admin/destinations", "GET, HEAD, OPTIONS"),
    ("POST", "/healthz", "GET, HEAD, OPTIONS"),
])
def test_a_wrong_method_is_a_json_405_with_the_allowed_methods(make_runtime, client_for, method, path, allowed):
    r = client_for(make_runtime()).open(path, method=method, headers=ADMIN)
    assert r.status_code == 405 and r.is_json
    assert r.get_json()["errors"] == [{"path": "", "message": f"{method} is not allowed on {path} (allowed: {allowed})"}]
    assert r.headers["Allow"]


def test_pages_for_people_keep_their_html_answers(make_runtime, client_for):
    r = client_for(make_runtime()).get("/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html"
