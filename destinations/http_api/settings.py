"""Settings of the no-code ``http`` destination: where, how to authenticate, and the request descriptions."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from destinations.base import BaseSettings
from destinations.http_api.mapper import header_text
from destinations.http_api.spec import SpecError, compile_requests

AUTH_TYPES = ("none", "basic", "bearer", "header", "query")
MAX_BATCH = 500


class HttpSettings(BaseSettings):
    base_url = fields.Url(require_tld=False, required=True, metadata={
        "description": "requests' urls are paths under it (a full URL in a request's url is used as it is)"})
    auth = fields.String(load_default="none", validate=validate.OneOf(AUTH_TYPES), metadata={
        "description": "none | basic (username + password) | bearer (token) | header / query (auth_param = token)"})
    username = fields.String(load_default=None, metadata={"description": "the Basic-auth user (auth: basic)"})
    password = fields.String(load_default=None, metadata={"secret": True, "description": "the Basic-auth password"})
    token = fields.String(load_default=None, metadata={
        "secret": True, "description": "the token (auth: bearer, header or query)"})
    auth_param = fields.String(load_default=None, validate=validate.Length(min=1), metadata={
        "description": "the header (auth: header) or query parameter (auth: query) that carries the token"})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict, metadata={
        "secret": True, "description": "headers on every request; every value counts as a secret (redacted wherever shown)"})
    statuses = fields.Raw(load_default=None, metadata={
        "description": "what statuses mean for every request (a request's own statuses win): done / retry / reject"})
    requests = fields.Raw(required=True, metadata={
        "description": "the request descriptions: type, event, method, url, headers, query, body, batch, statuses"})

    @validates_schema(skip_on_field_errors=False)
    def _describe(self, data: dict[str, Any], **kw: Any) -> None:
        errors: dict[str, Any] = {}
        if "requests" in data:
            try:
                data["requests"] = compile_requests(data["requests"], data.get("statuses"), MAX_BATCH)
            except SpecError as exc:
                errors.update(exc.errors)
        auth = data.get("auth", "none")
        needs = {"basic": ("username", "password"), "bearer": ("token",), "header": ("auth_param", "token"),
                 "query": ("auth_param", "token")}.get(auth, ())
        for key in needs:
            if not data.get(key):
                errors[key] = [f"missing (required with auth: {auth})"]
        # what goes out in a header (Basic auth too) is ISO-8859-1 text: else every send would fail
        carried = {"basic": ("username", "password"), "bearer": ("token",), "header": ("token",)}.get(auth, ())
        values = [(k, data.get(k)) for k in carried] + [("headers", v) for v in (data.get("headers") or {}).values()]
        for key, value in values:
            if isinstance(value, str) and not header_text(value):
                errors[key] = ["not fit for an HTTP header (a control character, or text outside ISO-8859-1)"]
        if errors:
            raise ValidationError(errors)
