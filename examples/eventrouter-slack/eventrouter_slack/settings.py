"""Settings of the Slack destination. The webhook URL is the credential: it is marked secret."""
from __future__ import annotations

from marshmallow import fields, validate

from destinations.kit import BaseSettings


class Settings(BaseSettings):
    webhook_url = fields.Url(required=True, require_tld=False, metadata={
        "secret": True, "description": "the incoming webhook's URL (https://hooks.slack.com/services/...)"})
    events = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list, metadata={
        "description": "track event names that post a message (after renames); empty: every track"})
