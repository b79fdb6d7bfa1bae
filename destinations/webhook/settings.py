"""Settings of the signed webhook destination."""
import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from destinations.base import BaseSettings

#: an HTTP header name (RFC 9110 token)
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: what a header value can't hold: a control character (CR/LF would start a new header) or beyond ISO-8859-1
NOT_HEADER_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


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

    @validates("headers")
    def _sendable(self, headers: dict[str, str], **kw: Any) -> None:
        """A header that can't go on the wire would fail every send; say so when the config is read.
        The message names the header, never its value (a secret)."""
        errors = [f"{name}: not an HTTP header name" for name in headers if not HEADER_NAME.fullmatch(name)]
        errors += [f"{name}: not fit for an HTTP header (a control character, or text outside ISO-8859-1)"
                   for name, value in headers.items() if NOT_HEADER_TEXT.search(value)]
        if errors:
            raise ValidationError(errors)
