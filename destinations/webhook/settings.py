"""Settings of the signed webhook destination."""
from marshmallow import fields, validate

from destinations.base import BaseSettings


class WebhookSettings(BaseSettings):
    url = fields.Url(
        require_tld=False,
        required=True,
        metadata={"description": "where every event is sent"},
    )
    shared_secret = fields.String(load_default=None, metadata={"description": (
            "signs each body with X-Signature = hex(HMAC-SHA1(shared_secret, body)), as Segment's Webhooks "
            "destination does"
        ), "secret": True})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict, metadata={"description": (
            "extra request headers (e.g. Authorization); every value counts as a secret, kept out of dead "
            "letters and the operator API even when the vendor echoes it back"
        ), "secret": True})
    batch = fields.Boolean(
        load_default=False,
        metadata={"description": "post a JSON array of up to batch_size events per request instead of one request per event"},
    )
    method = fields.String(
        load_default="POST",
        validate=validate.OneOf(["POST", "PUT"]),
        metadata={"description": "HTTP method: POST or PUT"},
    )
    signature = fields.String(
        load_default="whole_body",
        validate=validate.OneOf(["whole_body", "first_element"]),
        metadata={"description": (
            "what X-Signature covers in a batch: \"whole_body\" (the array sent: nothing in it can be changed"
            " unnoticed) or \"first_element\" (only the first event, as Segment's Webhooks (Actions) signs a "
            "batch, for receivers written against Segment). A single event is the whole body either way."
        )},
    )
