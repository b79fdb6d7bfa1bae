"""Configuration: one YAML file, ${ENV} values, every error named by its key path."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from router.config import RateLimit, load_config, parse_config
from router.errors import ConfigError


def errors_of(raw) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(raw)
    return exc.value.errors


def test_the_example_config_is_valid():
    cfg = load_config("config/eventrouter.yaml")
    assert cfg.source_for_key("demo-write-key").name == "website"
    assert cfg.destination("crm-webhook").batch_size == 100


def test_env_references_and_defaults_are_read(monkeypatch):
    monkeypatch.setenv("HOOK_URL", "http://127.0.0.1:9000/x")
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    cfg = parse_config({"destinations": [{"name": "h", "type": "webhook",
                                          "settings": {"url": "${HOOK_URL}", "shared_secret": "${HOOK_SECRET:-fallback}"}}]})
    assert cfg.destination("h").settings["url"] == "http://127.0.0.1:9000/x"
    assert cfg.destination("h").settings["shared_secret"] == "fallback"


def test_an_unset_env_reference_without_default_names_the_key(monkeypatch):
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    assert errors_of({"admin_token": "${NOPE_TOKEN}"}) == {"admin_token": "environment variable NOPE_TOKEN is not set"}


def test_errors_name_the_key_path_of_each_problem():
    raw = {
        "sources": [{"name": "web", "write_keys": ["k"]}],
        "destinations": [
            {"name": "ok", "type": "webhook", "settings": {"url": "http://127.0.0.1/"}},
            {"name": "bad", "type": "nope"},
            {"name": "hook", "type": "webhook", "settings": {}},
            {"name": "rate", "type": "webhook", "settings": {"url": "http://127.0.0.1/"}, "rate_limit": "lots"},
        ],
        "surprise": 1,
    }
    errs = errors_of(raw)
    assert errs["destinations[1].type"].startswith("unknown destination type 'nope' (available: ")
    assert errs["destinations[2].settings.url"] == "missing (required)"
    assert errs["destinations[3].rate_limit"] == "not a rate limit: 'lots' (use N/second, N/minute or N/hour)"
    assert errs["surprise"] == "unknown key"


def test_destination_names_must_be_unique():
    hook = {"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1/"}}
    assert errors_of({"destinations": [hook, hook]}) == {"destinations[1].name": "duplicate destination name 'h'"}


def test_subscribing_to_a_type_the_plugin_cannot_handle_is_an_error():
    from destinations.base import Destination

    hook = {"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1/"}, "subscribe": ["identify", "fly"]}
    assert "destinations[0].subscribe[1]" in errors_of({"destinations": [hook]})
    assert issubclass(parse_config({"destinations": [dict(hook, subscribe=["track"])]}).destinations[0].plugin, Destination)


def test_batch_size_is_capped_by_the_plugin_maximum():
    hook = {"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1/"}, "batch_size": 100_000}
    assert parse_config({"destinations": [hook]}).destination("h").batch_size == 500


@pytest.mark.parametrize("text,count,period", [("100/minute", 100, 60), ("5/second", 5, 1), ("3600/hour", 3600, 3600)])
def test_rate_limits_read_as_requests_per_period(text, count, period):
    assert RateLimit.parse(text) == RateLimit(count, period)


def test_check_config_exits_non_zero_and_prints_each_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""
        destinations:
          - name: hook
            type: webhook
            settings: {shared_secret: x}
    """))
    proc = subprocess.run([sys.executable, "-m", "router.cli", "--config", str(path), "check-config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "destinations[0].settings.url: missing (required)" in proc.stderr


def test_check_config_accepts_the_example():
    proc = subprocess.run([sys.executable, "-m", "router.cli", "--config", "config/eventrouter.yaml", "check-config"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "crm-webhook (webhook, disabled)" in proc.stdout
