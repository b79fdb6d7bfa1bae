"""The README's configuration examples are valid configs: a user who copies one gets `ok`."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from router.config import parse_config

README = Path(__file__).resolve().parents[2] / "README.md"
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def yaml_examples() -> list[tuple[str, str]]:
    """(the heading above it, the text) of every ```yaml block of the README that is eventrouter
    configuration (a Prometheus rules file, which starts with ``groups:``, is not)."""
    found, heading = [], ""
    for m in re.finditer(r"^(#+ [^\n]*)$|^```yaml\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S):
        if m.group(1):
            heading = m.group(1).lstrip("# ")
        elif not m.group(2).startswith("groups:"):
            found.append((heading, m.group(2)))
    return found


def test_the_readme_has_the_configuration_example_and_one_per_destination():
    headings = [h for h, _ in yaml_examples()]
    assert "Configuration" in headings and len(headings) >= 5


@pytest.mark.parametrize("heading, text", yaml_examples(), ids=[h for h, _ in yaml_examples()])
def test_a_readme_example_is_a_valid_config(heading, text, monkeypatch):
    for name in ENV_REF.findall(text):
        monkeypatch.setenv(name, "from-the-environment")
    monkeypatch.delenv("REDIS_URL", raising=False)
    parse_config(yaml.safe_load(text))  # raises ConfigError naming every bad key
