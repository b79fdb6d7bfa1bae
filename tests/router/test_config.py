"""Configuration: one YAML file, ${ENV} values, every error named by its key path."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from router.config import config_warnings, load_config, parse_config
from router.config_fields import RateLimit
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
    assert errs["destinations[3].rate_limit"] == (
        "not a rate limit: 'lots' (accepted: N/second, N/minute or N/hour; "
        "also N/s, N/sec, N/m, N/min, N/h, N/hr and 'N per minute')"
    )
    assert errs["surprise"] == (
        "unknown key (known: admin_token, data_dir, dedup_ttl, delivery, destinations, durability, log_format, metrics, "
        "metrics_public, namespace, redis_url, replica_wait, sources, trace)"
    )


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


@pytest.mark.parametrize("text,count,period", [
    ("100/minute", 100, 60), ("5/second", 5, 1), ("3600/hour", 3600, 3600), ("100/min", 100, 60), ("100/s", 100, 1),
    ("5/sec", 5, 1), ("1000/hour", 1000, 3600), ("100 per minute", 100, 60), ("2 per hr", 2, 3600), ("10/m", 10, 60),
])
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


def test_a_misspelled_setting_is_an_error_that_suggests_the_setting_meant():
    hook = {"name": "h", "type": "webhook", "settings": {"url": "http://127.0.0.1/", "shared_secrt": "x"}}
    assert errors_of({"destinations": [hook]}) == {
        "destinations[0].settings.shared_secrt": "unknown key; did you mean shared_secret?"
    }


def test_unknown_keys_are_named_at_every_level_of_the_file():
    raw = {
        "redis_ur": "embedded",
        "sources": [{"name": "web", "write_key": ["k"]}],
        "delivery": {"retry_windw": "1h"},
        "destinations": [{"name": "h", "type": "webhook", "enabeld": True, "settings": {"url": "http://127.0.0.1/"},
                          "events": {"renam": {}}}],
    }
    assert errors_of(raw) == {
        "redis_ur": "unknown key; did you mean redis_url?",
        "sources[0].write_key": "unknown key; did you mean write_keys?",
        "delivery.retry_windw": "unknown key; did you mean retry_window?",
        "destinations[0].enabeld": "unknown key; did you mean enabled?",
        "destinations[0].events.renam": "unknown key; did you mean rename?",
    }


def test_every_error_of_a_destination_is_reported_at_once():
    hook = {"name": "h", "type": "webhook", "batch_size": "lots", "enabled": "maybe",
            "settings": {"url": "http://127.0.0.1/", "timeout": "soon", "shared_secrt": "x"},
            "rate_limits": {"nope": "1/s"}}
    custobar = {"name": "c", "type": "custobar", "settings": {"timeout": -1}}
    assert errors_of({"destinations": [hook, custobar]}) == {
        "destinations[0].batch_size": "Not a valid integer.",
        "destinations[0].enabled": "Not a valid boolean.",
        "destinations[0].settings.timeout": "Not a valid number.",
        "destinations[0].settings.shared_secrt": "unknown key; did you mean shared_secret?",
        "destinations[0].rate_limits": "webhook has no rate limit bucket nope (buckets: none)",
        "destinations[1].settings.timeout": "Must be greater than or equal to 0.1 and less than or equal to 120.",
        "destinations[1].settings.company": "set company (https://<company>.custobar.com) or base_url",
        "destinations[1].settings.token": "set token, or username and password",
    }


def test_a_misspelled_destination_type_suggests_the_type_meant():
    errs = errors_of({"destinations": [{"name": "h", "type": "webhok"}]})
    assert errs["destinations[0].type"].startswith("unknown destination type 'webhok'; did you mean webhook? (available: ")


@pytest.mark.parametrize("text", ["lots", "100", "100/fortnight", "0/s", "-1/s", "100 / per minute", "per minute"])
def test_a_rate_limit_in_no_accepted_form_is_refused_with_the_forms_listed(text):
    with pytest.raises(ValueError) as exc:
        RateLimit.parse(text)
    assert str(exc.value) == (f"not a rate limit: {text!r} (accepted: N/second, N/minute or N/hour; "
                              "also N/s, N/sec, N/m, N/min, N/h, N/hr and 'N per minute')")


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty: the configuration must be a YAML mapping (`key: value` lines; `{}` for all defaults)"),
    ("- a\n- b\n", "the configuration must be a YAML mapping (`key: value` lines), not a list"),
    ("just words\n", "the configuration must be a YAML mapping (`key: value` lines), not a string"),
])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(str(path))
    assert str(exc.value) == message


def test_an_empty_mapping_is_valid_but_warns_that_nothing_can_be_sent_or_delivered():
    cfg = parse_config({})
    assert config_warnings(cfg) == [
        "no source with write_keys or webhook_secret: nothing can be sent to the router",
        "no enabled destination: events are accepted and counted but delivered nowhere",
    ]


def test_a_custobar_destination_without_account_currency_warns_that_foreign_orders_will_be_dead_letters():
    custobar = {"name": "cb", "type": "custobar", "settings": {"company": "acme", "token": "t"}}
    cfg = parse_config({"sources": [{"name": "w", "write_keys": ["k"]}], "destinations": [custobar]})
    assert config_warnings(cfg) == [
        "destinations[0] cb: account_currency is not set: orders that carry properties.currency without "
        "properties.exchange_rate will be dead letters (Custobar takes sale_currency only with sale_exchange_rate); "
        "set account_currency to the Custobar account's currency so orders in it are sent with rate 1"
    ]
    custobar["settings"]["account_currency"] = "eur"
    assert config_warnings(parse_config({"sources": [{"name": "w", "write_keys": ["k"]}], "destinations": [custobar]})) == []


def test_data_dir_is_relative_to_the_config_file_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "eventrouter.yaml"
    path.write_text("data_dir: ../state\n")
    monkeypatch.chdir("/")
    assert load_config(str(path)).data_dir == tmp_path / "state"


def test_a_key_written_twice_in_the_file_is_an_error_not_the_last_one_silently_winning(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("destinations:\n  - {name: a, type: webhook, settings: {url: 'http://127.0.0.1:9/x'}}\n"
                    "dedup_ttl: 1h\ndestinations: []\n")
    with pytest.raises(ConfigError, match="duplicate key 'destinations'"):
        load_config(str(path))


def test_merge_keys_may_still_be_overridden_by_the_keys_written_next_to_them(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("destinations:\n  - &base {name: a, type: webhook, settings: {url: 'http://127.0.0.1:9/x'}}\n"
                    "  - {<<: *base, name: b}\n")
    assert [d.name for d in load_config(str(path)).destinations] == ["a", "b"]


def test_a_yaml_alias_that_contains_itself_is_a_config_error_not_a_traceback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources: &s [*s]\n")
    with pytest.raises(ConfigError, match="alias"):
        load_config(str(path))


def test_aliases_that_multiply_to_millions_of_values_are_refused_before_they_are_walked():
    raw = {"sources": ["x"] * 10}
    for _ in range(8):  # 10**9 values once expanded; the same few lists in memory
        raw = {"sources": [raw["sources"]] * 10}
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        parse_config(raw)


def test_a_file_nested_too_deeply_for_the_yaml_parser_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(str(path))


def test_a_destination_or_source_that_is_not_a_mapping_is_reported_with_its_path_not_a_key_error():
    assert errors_of({"destinations": [None, {"name": 1, "type": "webhook", "settings": {"url": "http://127.0.0.1:9/x"}}]}) == {
        "destinations[0]": "Field may not be null.",
        "destinations[1].name": "Not a valid string.",
    }
    assert errors_of({"sources": [{"name": "s", "write_keys": [["k"]]}]}) == {
        "sources[0].write_keys[0]": "Not a valid string."}


def test_a_source_name_is_letters_digits_and_dot_underscore_dash_as_a_destinations():
    """Source names are parts of Redis keys: with a ":" in them, source "a" and messageId "b:c" would
    share source "a:b" and messageId "c"'s dedup key, one of the two events dropped as a duplicate."""
    assert errors_of({"sources": [{"name": "a:b", "write_keys": ["k"]}, {"name": "web site", "write_keys": ["k2"]}]}) == {
        "sources[0].name": "letters, digits, . _ - only", "sources[1].name": "letters, digits, . _ - only"}
    assert parse_config({"sources": [{"name": "web.eu-1_b", "write_keys": ["k"]}]}).sources[0].name == "web.eu-1_b"


def test_a_file_that_is_not_utf8_is_a_config_error_naming_the_byte_not_a_traceback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes("admin_token: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"not UTF-8 .*byte 0xe9 at offset 16"):
        load_config(str(path))


def test_every_unset_variable_of_one_value_is_named_not_only_the_last(monkeypatch):
    monkeypatch.delenv("NOPE_HOST", raising=False)
    monkeypatch.delenv("NOPE_PORT", raising=False)
    assert errors_of({"admin_token": "${NOPE_HOST}:${NOPE_PORT}"}) == {
        "admin_token": "environment variable NOPE_HOST is not set; environment variable NOPE_PORT is not set"}


@pytest.mark.parametrize("value", ["${NOPE_SECRET", "${NOPE_A:-${NOPE_B}}", "x${1BAD}"])
def test_a_dollar_brace_that_is_no_reference_is_an_error_not_taken_as_the_value(monkeypatch, value):
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    monkeypatch.delenv("NOPE_A", raising=False)
    assert "without a matching ${VAR}" in errors_of({"admin_token": value})["admin_token"]


def test_dollars_in_a_value_or_in_the_environment_are_kept_as_they_are(monkeypatch):
    monkeypatch.setenv("ODD_SECRET", "a${HOME}b$c}")
    cfg = parse_config({"admin_token": "pa$$word-${ODD_SECRET}-$HOME-${NOPE_D:-x:y}}"})
    assert cfg.admin_token == "pa$$word-a${HOME}b$c}-$HOME-x:y}"


def test_an_unset_variable_is_reported_together_with_the_files_other_errors(monkeypatch):
    monkeypatch.delenv("NOPE_URL", raising=False)
    assert errors_of({"dedup_tll": "1h", "destinations": [{"name": "h", "type": "webhook", "settings": {"url": "${NOPE_URL}"}}]}) == {
        "dedup_tll": "unknown key; did you mean dedup_ttl?",
        "destinations[0].settings.url": "environment variable NOPE_URL is not set",
    }


def test_a_write_key_with_a_colon_is_refused_as_basic_auth_would_send_only_its_part_before_the_colon():
    """``a:b`` sent as Basic auth is the user name ``a``: another source's key, or none."""
    sources = [{"name": "web", "write_keys": ["ok-key", "a:b"]}, {"name": "other", "write_keys": ["a"]}]
    assert errors_of({"sources": sources}) == {
        "sources[0].write_keys[1]": "a write key can't contain ':' (Basic auth ends the user name there)"}


def test_a_webhook_secret_or_admin_token_that_is_also_a_write_key_is_refused_as_browsers_carry_write_keys():
    """Whoever reads a page's write key could then sign webhooks (GDPR deletes included) or use the operator API."""
    sources = [{"name": "web", "write_keys": ["shared-value"]}, {"name": "segment", "webhook_secret": "shared-value"}]
    assert errors_of({"sources": sources, "admin_token": "shared-value"}) == {
        "sources[1].webhook_secret": "is also a write key, which is no secret (browsers carry write keys)",
        "admin_token": "is also a write key, which is no secret (browsers carry write keys)",
    }
