"""Load and validate the YAML configuration.

One file (default ``config/eventrouter.yaml``; ``--config`` or
``EVENTROUTER_CONFIG`` override it). String values may use ``${VAR}`` and
``${VAR:-default}`` (router/config_file.py reads the file). Every error names its key path, e.g.
``destinations[2].settings.api_key: missing (required)``.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from marshmallow import ValidationError, fields, validate, validates_schema

from destinations import registry
from destinations.base import EVENT_TYPES, Destination, StrictSchema, secret_values
from router.config_file import check_size, interpolate, read_yaml
from router.config_fields import BreakerField, Duration, FiltersField, Rate, RateLimit, TransformField
from router.demo import DEMO_ENV, demo_destination
from router.errors import FOREIGN_FAULTS, ConfigError
from router.exchanges import credential_forms, url_forms
from router.filters import Filters
from router.queue import Breaker
from router.redact import Redactor
from router.redis_url import check_url
from router.transforms import Transform

DEFAULT_PATH = "config/eventrouter.yaml"
class SourceSchema(StrictSchema):
    # as a destination's: it is part of Redis keys (dedup:<source>:<messageId>), where a ":" in it
    # would let source "a" with messageId "b:c" and source "a:b" with "c" share one dedup key
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="letters, digits, . _ - only"))
    # Basic auth ends the user name at the first ":", so "a:b" would arrive as "a": another source's key, or none
    write_keys = fields.List(fields.String(validate=[
        validate.Length(min=1),
        validate.Regexp(r"^[^:]*$", error="a write key can't contain ':' (Basic auth ends the user name there)"),
    ]), load_default=list)
    webhook_secret = fields.String(load_default=None, allow_none=True)
    #: accept Segment's Webhooks (Actions) batches signed over their first element only; then only
    #: that element is taken (the others are not covered by the signature and are rejected)
    webhook_first_element_signature = fields.Boolean(load_default=True)
    #: take ``delete`` calls sent with this source's write key: off, as a browser's write key is public
    #: (in every page) and a delete erases the user at every destination; signed webhooks and
    #: POST /v1/regulations (admin token) delete whatever this says
    accept_delete_calls = fields.Boolean(load_default=False)


class EventFilterSchema(StrictSchema):
    only = fields.List(fields.String(), load_default=None)
    exclude = fields.List(fields.String(), load_default=list, data_key="except")
    rename = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class DestinationSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="letters, digits, . _ - only"))
    type = fields.String(required=True)
    enabled = fields.Boolean(load_default=True)
    settings = fields.Dict(load_default=dict)
    subscribe = fields.List(fields.String(validate=validate.OneOf(sorted(EVENT_TYPES))), load_default=None)
    events = fields.Nested(EventFilterSchema, load_default=lambda: EventFilterSchema().load({}))
    batch_size = fields.Integer(load_default=None, validate=validate.Range(min=1))
    rate_limit = Rate(load_default=None, allow_none=True)
    rate_limits = fields.Dict(keys=fields.String(), values=Rate(), load_default=dict)
    concurrency = fields.Integer(load_default=2, validate=validate.Range(min=1, max=64))
    retry_window = Duration(load_default=None)
    breaker = BreakerField(load_default=Breaker())
    filters = FiltersField(load_default=None)
    transform = TransformField(load_default=None)
    #: ``per_user``: one user's events reach the destination in the order received (README Delivery)
    ordering = fields.String(load_default="none", validate=validate.OneOf(["none", "per_user"]))

    @validates_schema(skip_on_field_errors=False)
    def _plugin(self, data: dict[str, Any], **kw: Any) -> None:
        """The checks that need the plugin; they run even when other fields are wrong, so that
        every error of a destination is reported at once."""
        if "type" not in data:
            return  # missing or not a string: reported by the field
        try:
            plugin = registry.load(data["type"])
        except KeyError:
            close = difflib.get_close_matches(str(data["type"]), registry.available(), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValidationError(
                f"unknown destination type {data['type']!r}{hint} (available: {', '.join(registry.available())})", "type"
            )
        except registry.PluginLoadError as exc:
            raise ValidationError(f"the {data['type']} plugin is installed but broken: {exc.cause}", "type") from None
        errors: dict[str, Any] = {}
        if "settings" in data:
            try:
                data["settings"] = plugin.settings_schema().load(data["settings"] or {})
            except ValidationError as exc:
                errors["settings"] = exc.messages
            except Exception as exc:  # a plugin's own validator crashed: its fault, said as such
                errors["settings"] = [f"the {data['type']} plugin's settings schema is broken: {type(exc).__name__}: {exc}"]
            else:
                if problem := _setup_problem(plugin, data["settings"]):
                    errors["settings"] = [f"the {data['type']} plugin could not be set up with these settings: {problem}"]
        unknown = sorted(set(data.get("rate_limits", {})) - set(plugin.rate_limits))
        if unknown:
            known = ", ".join(sorted(plugin.rate_limits)) or "none"
            errors["rate_limits"] = [f"{data['type']} has no rate limit bucket {', '.join(unknown)} (buckets: {known})"]
        if data.get("subscribe") is not None:
            handles = instance_handles(plugin, data["settings"]) if "settings" not in errors else plugin.handles
            unsupported = sorted(set(data["subscribe"]) - handles)
            if unsupported:
                errors["subscribe"] = [f"{data['type']} does not handle {', '.join(unsupported)}"]
        if errors:
            raise ValidationError(errors)


def _setup_problem(plugin: type[Destination], settings: dict[str, Any]) -> str | None:
    """Why the plugin's constructor refuses these settings (its secrets redacted), or None. Found here, it is a
    config error; found first by a worker, every drain of the destination would fail with it."""
    try:
        plugin(settings)
    except FOREIGN_FAULTS as exc:
        return Redactor(secret_values(plugin.settings_schema(), settings)).text(f"{type(exc).__name__}: {exc}")
    return None


def instance_handles(plugin: type[Destination], settings: dict[str, Any]) -> frozenset[str]:
    """The types an instance handles: a plugin whose settings decide (the ``http`` destination) says so
    with ``handles_for(settings)``; the others handle what their class declares."""
    handles_for = getattr(plugin, "handles_for", None)
    return frozenset(handles_for(settings)) if handles_for else plugin.handles


class DeliverySchema(StrictSchema):
    retry_window = Duration(load_default=4 * 3600)
    retry_base = Duration(load_default=5.0)
    retry_max = Duration(load_default=300.0)
    dead_letter_ttl = Duration(load_default=7 * 86400)
    lease = Duration(load_default=60.0)
    drain_budget = Duration(load_default=10.0)
    tick = Duration(load_default=1.0)


class MetricsSchema(StrictSchema):
    """How long the per-minute numbers are kept (router/timeseries.py)."""

    retention = Duration(load_default=7 * 86400)
    #: delivered exchanges kept per destination for the dashboard's recent deliveries (0: none)
    samples = fields.Integer(load_default=20, validate=validate.Range(min=0, max=1000))


class TraceSchema(StrictSchema):
    """Event traces (router/trace.py), kept for dedup_ttl, at most max_events of them."""

    max_events = fields.Integer(load_default=100_000, validate=validate.Range(min=0))


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://")


def _check_redis_url(url: str) -> None:
    """A URL connect() can use, said at start-up rather than at the first event."""
    if url == "embedded":
        return
    if not url.startswith(REDIS_SCHEMES):
        raise ValidationError(f"embedded, or a URL starting with {', '.join(REDIS_SCHEMES)}")
    try:
        check_url(url)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class ConfigSchema(StrictSchema):
    redis_url = fields.String(load_default="embedded", validate=lambda url: _check_redis_url(url))
    data_dir = fields.String(load_default="data")
    namespace = fields.String(load_default="er", validate=validate.Regexp(r"^[A-Za-z0-9_-]+$"))
    admin_token = fields.String(load_default=None, allow_none=True)
    dedup_ttl = Duration(load_default=86400)
    sources = fields.List(fields.Nested(SourceSchema), load_default=list)
    destinations = fields.List(fields.Nested(DestinationSchema), load_default=list)
    delivery = fields.Nested(DeliverySchema, load_default=lambda: DeliverySchema().load({}))
    # observe: metrics, GET /metrics without the admin token, log lines as text or JSON
    metrics = fields.Nested(MetricsSchema, load_default=lambda: MetricsSchema().load({}))
    metrics_public = fields.Boolean(load_default=False)
    trace = fields.Nested(TraceSchema, load_default=lambda: TraceSchema().load({}))
    log_format = fields.String(load_default="text", validate=validate.OneOf(["text", "json"]))
    # scale: `replicated` answers 200 only once a replica holds the event (README "Redis failover")
    durability = fields.String(load_default="async", validate=validate.OneOf(["async", "replicated"]))
    replica_wait = Duration(load_default=1.0, validate=validate.Range(min=0.001, max=60))

    @validates_schema(skip_on_field_errors=False)
    def _unique(self, data: dict[str, Any], **kw: Any) -> None:
        errors: dict[str, Any] = {}
        seen: set[str] = set()
        for i, d in enumerate(data.get("destinations", [])):
            if "name" not in d:
                continue  # missing or not a string: reported by the field
            if d["name"] in seen:
                errors.setdefault("destinations", {})[i] = {"name": [f"duplicate destination name {d['name']!r}"]}
            seen.add(d["name"])
        keys: set[str] = set()
        for i, s in enumerate(data.get("sources", [])):
            for k in s.get("write_keys", []):
                if k in keys:
                    errors.setdefault("sources", {})[i] = {"write_keys": ["write key used by two sources"]}
                keys.add(k)
        # write keys are public (every page with analytics.js has one): a secret equal to one is none
        public = "is also a write key, which is no secret (browsers carry write keys)"
        for i, s in enumerate(data.get("sources", [])):
            if s.get("webhook_secret") in keys:
                errors.setdefault("sources", {}).setdefault(i, {})["webhook_secret"] = [public]
        if data.get("admin_token") in keys:
            errors["admin_token"] = [public]
        if errors:
            raise ValidationError(errors)


@dataclass
class DestinationConfig:
    name: str
    type: str
    enabled: bool
    settings: dict[str, Any]
    subscribe: frozenset[str]
    only: frozenset[str] | None
    exclude: frozenset[str]
    rename: dict[str, str]
    batch_size: int
    rate_limit: RateLimit | None
    #: per-endpoint buckets (the plugin's defaults, overridden by the config)
    rate_limits: dict[str, RateLimit]
    concurrency: int
    retry_window: float
    plugin: type[Destination]
    breaker: Breaker = Breaker()
    #: per-destination filters and transform (router/filters.py, router/transforms.py), run in the worker
    filters: Filters | None = None
    transform: Transform | None = None
    transform_name: str = ""
    #: the event types this instance delivers (routing uses it; see instance_handles)
    handles: frozenset[str] = frozenset()

    #: "none" or "per_user"
    ordering: str = "none"

    def __post_init__(self) -> None:
        if not self.handles:
            self.handles = instance_handles(self.plugin, self.settings)

    @property
    def ordered(self) -> bool:
        return self.ordering == "per_user"

    @property
    def secrets(self) -> list[str]:
        """The secret settings' values and what each carries (``Bearer t`` -> ``t``, a Basic pair and
        its password): a dead letter's reason may hold the bare token alone, a stored URL its
        URL-encoded form (a query token)."""
        return url_forms(form for value in secret_values(self.plugin.settings_schema(), self.settings)
                         for form in credential_forms(value))


@dataclass
class SourceConfig:
    name: str
    write_keys: list[str]
    webhook_secret: str | None
    webhook_first_element_signature: bool = True
    accept_delete_calls: bool = False


@dataclass
class Config:
    redis_url: str
    data_dir: Path
    namespace: str
    admin_token: str | None
    dedup_ttl: float
    sources: list[SourceConfig]
    destinations: list[DestinationConfig]
    delivery: dict[str, float]
    path: str | None = None
    _by_key: dict[str, SourceConfig] = field(default_factory=dict, repr=False)
    # observe
    metrics: dict[str, float] = field(default_factory=lambda: {"retention": 7 * 86400.0, "samples": 20})
    metrics_public: bool = False
    log_format: str = "text"
    #: scale: ``replicated``: ingest waits (at most replica_wait) for one replica to hold the events
    durability: str = "async"
    replica_wait: float = 1.0
    trace: dict[str, int] = field(default_factory=lambda: {"max_events": 100_000})

    def __post_init__(self) -> None:
        self._by_key = {k: s for s in self.sources for k in s.write_keys}

    def source_for_key(self, write_key: str) -> SourceConfig | None:
        return self._by_key.get(write_key)

    def destination(self, name: str) -> DestinationConfig:
        for d in self.destinations:
            if d.name == name:
                return d
        raise KeyError(f"no destination named {name!r} (configured: {', '.join(d.name for d in self.destinations)})")

    @property
    def secrets(self) -> list[str]:
        """Every configured secret value: write keys, webhook secrets, the admin token and each
        destination's secret settings. None of them is ever stored or shown."""
        values = [k for s in self.sources for k in s.write_keys]
        values += [s.webhook_secret for s in self.sources if s.webhook_secret]
        if self.admin_token:
            values.append(self.admin_token)
        for d in self.destinations:
            values += d.secrets
        return values

    @property
    def enabled_destinations(self) -> list[DestinationConfig]:
        return [d for d in self.destinations if d.enabled]

    @property
    def embedded(self) -> bool:
        return self.redis_url == "embedded"


def flatten_errors(messages: Any, path: str = "") -> dict[str, str]:
    """marshmallow's nested error dict -> ``{"destinations[2].settings.api_key": "missing (required)"}``."""
    out: dict[str, str] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if isinstance(key, int):
                sub = f"{path}[{key}]"
            elif key == "_schema":
                sub = path
            else:
                sub = f"{path}.{key}" if path else str(key)
            out.update(flatten_errors(value, sub))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        text = "; ".join(messages)
        out[path] = text.replace("Missing data for required field.", "missing (required)").replace(
            "Unknown field.", "unknown key"
        )
    else:
        out[path] = str(messages)
    return out


def parse_config(raw: Any, path: str | None = None) -> Config:
    """Validate an already-parsed YAML tree. Raises ConfigError naming every bad key path."""
    if raw is None:
        raise ConfigError("the file is empty: the configuration must be a YAML mapping (`key: value` lines; `{}` for all defaults)")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the configuration must be a YAML mapping (`key: value` lines), not a {_yaml_kind(raw)}")
    check_size(raw)
    env_errors: dict[str, str] = {}
    try:
        raw = interpolate(raw, errors=env_errors)
    except RecursionError:
        raise ConfigError("the configuration is nested too deeply") from None
    raw = dict(raw)
    if os.environ.get("REDIS_URL"):
        raw["redis_url"] = os.environ["REDIS_URL"]
    if os.environ.get(DEMO_ENV):
        # `eventrouter up --demo` (and its child processes): one more destination, to the local receiver
        raw["destinations"] = [*(raw.get("destinations") or []), demo_destination(os.environ[DEMO_ENV])]
    try:
        data = ConfigSchema().load(raw)
    except ValidationError as exc:
        # with the unset variables, so that the file's every error is said at once; a variable's
        # error stands for its key (an empty value there may be invalid too)
        errors = flatten_errors(exc.messages)
        if os.environ.get("REDIS_URL") and "redis_url" in errors:  # not the file's value: say where it came from
            errors = {("redis_url (from the REDIS_URL environment variable, which overrides the file's)"
                       if k == "redis_url" else k): v for k, v in errors.items()}
        raise ConfigError({**errors, **env_errors}) from None
    if env_errors:
        raise ConfigError(env_errors)
    delivery = data["delivery"]
    dests = []
    for d in data["destinations"]:
        plugin = registry.load(d["type"])
        batch = min(d["batch_size"] or plugin.default_batch_size, plugin.max_batch_size)
        rate = d["rate_limit"]
        if rate is None and plugin.default_rate_limit:
            rate = RateLimit.parse(plugin.default_rate_limit)
        events = d["events"]
        dests.append(
            DestinationConfig(
                name=d["name"],
                type=d["type"],
                enabled=d["enabled"],
                settings=d["settings"],
                subscribe=frozenset(d["subscribe"]) if d["subscribe"] is not None else instance_handles(plugin, d["settings"]),
                only=frozenset(events["only"]) if events["only"] is not None else None,
                exclude=frozenset(events["exclude"]),
                rename=events["rename"],
                batch_size=batch,
                rate_limit=rate,
                rate_limits={**{k: RateLimit.parse(v) for k, v in plugin.rate_limits.items()}, **d["rate_limits"]},
                concurrency=d["concurrency"],
                retry_window=d["retry_window"] if d["retry_window"] is not None else delivery["retry_window"],
                plugin=plugin,
                breaker=d["breaker"],
                filters=d["filters"],
                transform=d["transform"][1] if d["transform"] else None,
                transform_name=d["transform"][0] if d["transform"] else "",
                ordering=d["ordering"],
            )
        )
    # relative to the config file, so that every command finds the same data whatever its working directory
    data_dir = Path(path).resolve().parent if path else Path.cwd()
    data_dir = data_dir / os.path.expanduser(data["data_dir"])
    return Config(
        redis_url=data["redis_url"],
        data_dir=data_dir.resolve(),
        namespace=data["namespace"],
        admin_token=data["admin_token"] or None,
        dedup_ttl=data["dedup_ttl"],
        sources=[SourceConfig(**s) for s in data["sources"]],
        destinations=dests,
        delivery=delivery,
        path=path,
        metrics=data["metrics"],
        metrics_public=data["metrics_public"],
        log_format=data["log_format"],
        durability=data["durability"],
        replica_wait=data["replica_wait"],
        trace=data["trace"],
    )


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def config_warnings(cfg: Config) -> list[str]:
    """What a valid config still cannot do: said by ``check-config`` and logged by ``up`` at start,
    so that a whole kind of event failing is not first discovered as dead letters."""
    out = []
    if not any(s.write_keys or s.webhook_secret for s in cfg.sources):
        out.append("no source with write_keys or webhook_secret: nothing can be sent to the router")
    if not cfg.enabled_destinations:
        out.append("no enabled destination: events are accepted and counted but delivered nowhere")
    for i, d in enumerate(cfg.destinations):
        if not d.enabled:
            continue
        for text in d.plugin.settings_schema().warnings(d.settings):
            out.append(f"destinations[{i}] {d.name}: {text}")
    return out


def config_path(path: str | None = None) -> str:
    return path or os.environ.get("EVENTROUTER_CONFIG") or DEFAULT_PATH


def load_config(path: str | None = None) -> Config:
    """Read and validate the configuration file (``--config``, ``EVENTROUTER_CONFIG``, or the default)."""
    path = config_path(path)
    return parse_config(read_yaml(path), path)
