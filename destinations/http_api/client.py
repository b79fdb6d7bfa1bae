"""HTTP for the ``http`` destination: auth once on the session, statuses judged by the description."""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from requests.auth import HTTPBasicAuth
from requests.structures import CaseInsensitiveDict

from destinations.base import Outcome
from destinations.http import HttpClient, excerpt, parse_retry_after
from destinations.http_api.mapper import HttpCall, as_text
from destinations.http_api.spec import RequestSpec
from destinations.errors import RejectedEvent, RetryableError


class HttpApiClient:
    def __init__(self, settings: dict[str, Any], throttle: Callable[..., None] | None = None) -> None:
        headers = dict(settings["headers"])
        auth = None
        self.query_auth: dict[str, str] = {}
        kind = settings["auth"]
        if kind == "basic":
            auth = HTTPBasicAuth(settings["username"], settings["password"])
        elif kind == "bearer":
            headers["Authorization"] = f"Bearer {settings['token']}"
        elif kind == "header":
            headers[settings["auth_param"]] = settings["token"]
        elif kind == "query":
            self.query_auth = {settings["auth_param"]: settings["token"]}
        self.http = HttpClient(settings["base_url"], timeout=settings["timeout"], headers=headers, auth=auth,
                               throttle=throttle, vendor="http destination")

    def send(self, spec: RequestSpec, calls: Sequence[HttpCall]) -> Outcome:
        """One request for ``calls`` (one, or a batch of the same url), judged by ``spec.statuses``."""
        first = calls[0]
        if spec.batch is not None:
            items = [c.body for c in calls]
            body: Any = {spec.batch.wrap: items} if spec.batch.wrap else items
        else:
            body = first.body
        headers = CaseInsensitiveDict(first.headers)
        # a redirect is judged like any status: followed, a POST would become a GET without its body
        # (the event lost, yet "delivered"), and the token headers would go to wherever it points
        kwargs: dict[str, Any] = {"headers": headers, "params": [*first.query, *self.query_auth.items()],
                                  "allow_redirects": False}
        if body is not None:
            if spec.format == "form":
                kwargs["data"] = {k: as_text(v) for k, v in body.items()}
            else:
                kwargs["data"] = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
                if "Content-Type" not in headers and "Content-Type" not in self.http.session.headers:
                    headers["Content-Type"] = "application/json"  # only where the description names none
        try:
            response = self.http.request(first.method, first.url, **kwargs)
        except RetryableError as exc:
            if exc.status is None or spec.outcome_of(exc.status) == "retry":
                raise
            status, text, wait = exc.status, exc.response, None
        else:
            status, text = response.status_code, excerpt(response.content)
            wait = parse_retry_after(response.headers.get("Retry-After"))
        verdict = spec.outcome_of(status)
        if verdict == "done":
            return Outcome.delivered(status)
        if verdict == "retry":  # a status only the description retries (409...) may say when, too
            raise RetryableError(f"http destination answered {status}", status=status, response=text, retry_after=wait)
        raise RejectedEvent(f"http destination answered {status}", status=status, response=text)
