"""Settings of the Extole destination. What Extole's docs leave open is a setting."""
from marshmallow import fields, validate

from destinations.base import BaseSettings

TRACK_ENDPOINTS = ("/v5/events", "/v6/events", "/v6/async-events")
#: "event": POST /v5/events {"event_name": "identify", "data": {...}};
#: "flat": POST /v5/events/identify {partner_user_id, email, ..., traits: {...}}, as Extole's own Segment app
IDENTIFY_MODES = ("event", "flat")
#: what an empty 204 answer becomes; Extole documents it as a misrouted request, not an acceptance
ON_204 = ("reject", "retry", "deliver")
#: "extole": 2026-11-23T10:00:00+0000, the format of Extole's docs; "original": the Segment timestamp unchanged
EVENT_TIME_FORMATS = ("extole", "original")


class ExtoleSettings(BaseSettings):
    api_key = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "Extole access token, sent as a Bearer token"},
    )
    base_url = fields.Url(
        require_tld=False,
        load_default="https://api.extole.io",
        metadata={"description": "Extole API host"},
    )
    events_base_url = fields.Url(
        require_tld=False,
        load_default=None,
        allow_none=True,
        metadata={"description": (
            "host for the event calls (track, identify); Extole's OpenAPI names https://events.extole.io "
            "for /v6 while its guides use api.extole.io, so it is a setting (default: base_url)"
        )},
    )
    track_endpoint = fields.String(
        load_default="/v5/events",
        validate=validate.OneOf(TRACK_ENDPOINTS),
        metadata={"description": "where track events go: /v5/events (legacy), /v6/events (synchronous) or /v6/async-events"},
    )
    identify_mode = fields.String(
        load_default="event",
        validate=validate.OneOf(IDENTIFY_MODES),
        metadata={"description": (
            "event: an identify event on the track endpoint; flat: POST /v5/events/identify as Extole's "
            "Segment app sends"
        )},
    )
    identify_event_name = fields.String(
        load_default="identify",
        validate=validate.Length(min=1),
        metadata={"description": "event_name of identify events in event mode"},
    )
    event_time_format = fields.String(
        load_default="extole",
        validate=validate.OneOf(EVENT_TIME_FORMATS),
        metadata={"description": (
            "extole: 2026-11-23T10:00:00+0000 as in Extole's docs; original: the Segment timestamp "
            "unchanged"
        )},
    )
    on_empty_204 = fields.String(
        load_default="reject",
        validate=validate.OneOf(ON_204),
        metadata={"description": "what an empty 204 means (Extole documents it as a misrouted request): reject, retry or deliver"},
    )
    erasure_404 = fields.String(
        load_default="reject",
        validate=validate.OneOf(("reject", "done")),
        metadata={"description": (
            "what a 404 to an erasure means: Extole documents 400/401/402/403/415/429 for the call, not 404, so "
            "reject (a dead letter: a wrong host or path must not count GDPR erasures as done) or done "
            "(once Extole is known to answer 404 for a person it no longer has)")},
    )
    erasure_note = fields.String(
        load_default="Erasure request from eventrouter",
        metadata={"description": "note sent with GDPR erasure requests"},
    )
    extole_app = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "sent as data.extole_app when set (Extole's Segment app sends \"Segment Destination App\")"},
    )
    client_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]+\Z"),
        metadata={"description": (
            "the client id in event file names (<client_id>_<event>_<yyyyMMddHHmmss>.csv), used by the "
            "backfill"
        )},
    )
