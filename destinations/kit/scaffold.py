"""`eventrouter new-destination NAME`: a plugin package that installs and passes its own tests as written.

The generated code is the smallest complete plugin: settings (a secret marked), a mapper with
field tables, a client that turns status codes into outcomes, the class tying them together,
packaging that registers it through the ``eventrouter.destinations`` entry point, and tests that
run the kit's contract suite and assert exact payloads against a FakeServer."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from destinations.registry import BUILTIN


class ScaffoldError(Exception):
    """The package cannot be written (a bad name, a folder that is already there)."""


@dataclass(frozen=True)
class Scaffold:
    root: Path
    slug: str
    module: str
    files: tuple[str, ...]


def names(name: str) -> dict[str, str]:
    """``Acme CRM`` -> slug acme_crm, module eventrouter_acme_crm, class AcmeCrmDestination, dist eventrouter-acme-crm."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    if not words or not words[0][0].isalpha():
        raise ScaffoldError(f"not a usable name: {name!r} (start with a letter: e.g. acme or 'Acme CRM')")
    slug = "_".join(w.lower() for w in words)
    if slug in BUILTIN:  # its entry point would be listed as not used, and `type: <slug>` give the built-in
        raise ScaffoldError(f"not a usable name: {name!r} is the built-in destination type {slug}, which a plugin "
                            f"cannot take over (choose another, e.g. 'Acme {words[0].title()}')")
    return {"slug": slug, "module": f"eventrouter_{slug}", "dist": f"eventrouter-{slug.replace('_', '-')}",
            "cls": "".join(w[:1].upper() + w[1:].lower() for w in words) + "Destination",
            "title": " ".join(w[:1].upper() + w[1:] for w in words)}


FILES: dict[str, str] = {
    "pyproject.toml": '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title destination for eventrouter"
requires-python = ">=3.11"
dependencies = ["eventrouter"]

[project.optional-dependencies]
test = ["pytest>=8.0"]

# how eventrouter finds the plugin: `type: $slug` in its config
[project.entry-points."eventrouter.destinations"]
$slug = "$module:$cls"

[tool.setuptools.packages.find]
include = ["$module*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
''',
    "README.md": '''\
# $dist

An eventrouter destination plugin: `type: $slug` in the config.

    pip install -e '.[test]'
    eventrouter destinations show $slug
    pytest

```yaml
destinations:
  - name: $slug
    type: $slug
    settings: {api_key: "$${${SLUG_UPPER}_API_KEY}"}
```
''',
    "$module/__init__.py": '''\
"""The $title destination: identify and track, one request per event."""
from __future__ import annotations

from typing import Any

from destinations.kit import Destination, Outcome, Prepared

from $module.client import Client
from $module.mapper import map_event
from $module.settings import Settings


class $cls(Destination):
    slug = "$slug"
    display_name = "$title"
    handles = frozenset({"identify", "track"})
    settings_schema = Settings
    max_batch_size = 100
    default_batch_size = 100
    default_rate_limit = "10/second"

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = Client(settings, throttle=self.throttle)

    def map(self, event: dict[str, Any]) -> Any:
        return map_event(event)

    def send_one(self, item: Prepared) -> Outcome | None:
        return self.client.send(item.payload)
''',
    "$module/settings.py": '''\
"""Settings of the $title destination; secrets are marked so they never reach logs or dead letters."""
from __future__ import annotations

from marshmallow import fields, validate

from destinations.kit import BaseSettings


class Settings(BaseSettings):
    api_key = fields.String(required=True, validate=validate.Length(min=1),
                            metadata={"secret": True, "description": "API key, sent as a Bearer token"})
    base_url = fields.Url(require_tld=False, load_default="https://api.example.com",
                          metadata={"description": "the vendor's API host"})
''',
    "$module/mapper.py": '''\
"""Segment event -> $title request: field tables first, small functions for the rest. Pure."""
from __future__ import annotations

from typing import Any

from destinations.kit import RejectedEvent, SkippedEvent, pick

#: target field <- the first non-empty of these source paths
IDENTIFY = {
    "id": ("userId",),
    "email": ("traits.email", "context.traits.email"),
    "first_name": ("traits.firstName", "traits.first_name"),
    "last_name": ("traits.lastName", "traits.last_name"),
}
TRACK = {
    "id": ("userId", "anonymousId"),
    "event": ("event",),
    "properties": ("properties",),
    "time": ("timestamp", "receivedAt"),
}
PATHS = {"identify": ("/v1/contacts", IDENTIFY), "track": ("/v1/events", TRACK)}


def map_event(event: dict[str, Any]) -> dict[str, Any]:
    """{"path": ..., "body": ...}; an event without an id is rejected with the reason."""
    kind = event.get("type")
    if kind not in PATHS:
        raise SkippedEvent(f"$slug does not handle {kind} events")
    path, table = PATHS[kind]
    body = pick(event, table)
    if not body.get("id"):
        raise RejectedEvent(f"{kind} without userId: $title needs an id")
    return {"path": path, "body": body}
''',
    "$module/client.py": '''\
"""All HTTP to $title: one session, the shared rate limit, and the one place status codes become outcomes."""
from __future__ import annotations

from typing import Any, Callable

from destinations.kit import HttpClient, Outcome, RejectedEvent, excerpt


class Client:
    def __init__(self, settings: dict[str, Any], throttle: Callable[..., None] | None = None) -> None:
        self.http = HttpClient(settings["base_url"], timeout=settings["timeout"], throttle=throttle,
                               headers={"Authorization": f"Bearer {settings['api_key']}"}, vendor="$title")

    def send(self, payload: dict[str, Any]) -> Outcome:
        """2xx: delivered. 3xx and other 4xx: rejected (dead letter with the answer). 408/429/5xx and network
        errors: HttpClient raises RetryableError."""
        response = self.http.post(payload["path"], json=payload["body"])
        if not 200 <= response.status_code < 300:  # a redirect too: HttpClient does not follow one
            raise RejectedEvent(f"$title answered {response.status_code}", status=response.status_code,
                                response=excerpt(response.content))
        return Outcome.delivered(response.status_code)
''',
    "tests/test_$slug.py": '''\
"""The $title plugin: the kit's contract suite, and exact requests against a fake vendor."""
from __future__ import annotations

from destinations.kit import OutcomeStatus, Prepared
from destinations.kit.fakes import FakeServer, Reply
from destinations.kit.testing import SAMPLES, ContractTests

from $module import $cls


class TestContract(ContractTests):
    plugin = $cls
    settings = {"api_key": ContractTests.SECRET, "base_url": ContractTests.UNREACHABLE}


def send(vendor: FakeServer, kind: str) -> list:
    dest = $cls($cls.settings_schema().load({"api_key": "k", "base_url": vendor.base_url}))
    return dest.send([Prepared(SAMPLES[kind], dest.map(SAMPLES[kind]))])


def test_a_track_becomes_one_event_with_its_properties():
    with FakeServer(lambda req: Reply(202, {})) as vendor:
        [outcome] = send(vendor, "track")
    assert outcome.status is OutcomeStatus.DELIVERED
    [req] = vendor.requests
    assert (req.method, req.path, req.headers["Authorization"]) == ("POST", "/v1/events", "Bearer k")
    assert req.json() == {"id": "user-1", "event": "Order Completed", "properties": SAMPLES["track"]["properties"],
                          "time": "2026-11-23T10:00:00.000Z"}


def test_an_identify_becomes_a_contact_from_the_field_table():
    with FakeServer(lambda req: Reply(200, {})) as vendor:
        send(vendor, "identify")
    assert vendor.requests[0].json() == {"id": "user-1", "email": "ada@example.com", "first_name": "Ada",
                                         "last_name": "Lovelace"}


def test_a_refused_event_is_rejected_with_the_vendors_answer():
    with FakeServer(lambda req: Reply(422, {"error": "bad email"})) as vendor:
        [outcome] = send(vendor, "identify")
    assert (outcome.status, outcome.http_status) == (OutcomeStatus.REJECTED, 422)
    assert "bad email" in outcome.response
''',
}


def write_package(name: str, directory: str | Path = ".") -> Scaffold:
    """Write the package into ``directory/<dist name>``; refuses to overwrite anything."""
    values = names(name)
    values["SLUG_UPPER"] = values["slug"].upper()
    root = Path(directory) / values["dist"]
    if root.exists():
        raise ScaffoldError(f"{root} already exists; choose another name or --dir")
    written = []
    for rel, text in FILES.items():
        path = root / Template(rel).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
        written.append(str(path.relative_to(root)))
    return Scaffold(root, values["slug"], values["module"], tuple(written))
