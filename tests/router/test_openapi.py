"""/openapi.json describes the HTTP API, and stays true: every route is described, every
described path exists (a route added without a description fails here)."""
from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from router.app import create_app
from router.openapi import spec

#: Flask's own static files: not part of the API
NOT_API = {"static"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "options")


def openapi_paths(rule) -> list[str]:
    """A Flask rule as the OpenAPI paths it serves (``any(a, b)`` converters give one path each)."""
    paths = [""]
    for part in re.split(r"(<[^>]+>)", rule.rule):
        m = re.fullmatch(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>", part)
        if not m:
            paths = [p + part for p in paths]
        elif m.group(1) == "any":
            values = [v.strip() for v in m.group(2).split(",")]
            paths = [p + v for p in paths for v in values]
        else:
            paths = [p + "{" + m.group(3) + "}" for p in paths]
    return paths


def described_methods(rule) -> set[str]:
    methods = set(rule.methods) - {"HEAD"}
    if methods != {"OPTIONS"}:
        methods.discard("OPTIONS")  # Flask adds OPTIONS to every rule; only explicit preflights are described
    return {m.lower() for m in methods}


@pytest.fixture
def app(make_runtime):
    return create_app(runtime=make_runtime())


def test_the_description_is_served_as_openapi_3_1(app):
    r = app.test_client().get("/openapi.json")
    assert r.status_code == 200 and r.get_json()["openapi"] == "3.1.0"
    assert r.get_json() == spec()


def test_every_route_is_described(app):
    paths = spec()["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_API:
            continue
        for path in openapi_paths(rule):
            for method in described_methods(rule):
                if method not in paths.get(path, {}):
                    missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_every_described_path_and_method_exists(app):
    urls = app.url_map.bind("localhost")
    absent = []
    for path, item in spec()["paths"].items():
        concrete = re.sub(r"\{\w+\}", "x", path)
        for method in (m for m in item if m in HTTP_METHODS):
            try:
                urls.match(concrete, method=method.upper())
            except (NotFound, MethodNotAllowed):
                absent.append(f"{method.upper()} {path}")
    assert absent == []


def test_every_reference_resolves_to_a_schema():
    text = repr(spec())
    schemas = spec()["components"]["schemas"]
    refs = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert refs and refs <= set(schemas)
