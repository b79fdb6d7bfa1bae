"""``GET /v1/projects/<writeKey>/settings``: the settings document analytics.js loads first.

``@segment/analytics-next`` fetches ``{cdnURL}/v1/projects/{writeKey}/settings``
before it sends anything; its ``Segment.io`` entry decides where events go
(``{protocol}://{apiHost}/t``, ``/i``, ``/p`` ...). Serving it here lets
``AnalyticsBrowser.load({writeKey, cdnURL: <router>})`` work with no segment.com:
``apiHost`` names this router as the browser reached it, with no scheme
(analytics.js adds ``protocol``), e.g. ``"events.example.com/v1"``.
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

bp = Blueprint("cdn_settings", __name__)

#: browsers may read the document from any page; it holds nothing a page does not already have
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


def trusted_proxy(remote_addr: str | None) -> bool:
    """Whether the peer is a proxy whose ``X-Forwarded-*`` headers count: the addresses gunicorn trusts
    with them, ``FORWARDED_ALLOW_IPS`` (addresses or networks; ``*``: any), by default the host itself.
    Anyone else could otherwise point analytics.js, through a shared cache, at a host of their choosing."""
    allowed = [a.strip() for a in os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1").split(",") if a.strip()]
    if "*" in allowed or not remote_addr:  # no address: a UNIX socket, which gunicorn trusts too
        return True
    try:
        peer = ipaddress.ip_address(remote_addr)
        return any(peer in ipaddress.ip_network(a, strict=False) for a in allowed)
    except ValueError:
        return False


def public_origin() -> tuple[str, str]:
    """(scheme, host[:port]) the client used, trusting a reverse proxy's ``X-Forwarded-Proto/-Host``."""
    if not trusted_proxy(request.remote_addr):
        return request.scheme, request.host
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    scheme = proto if proto in ("http", "https") else request.scheme
    return scheme, host or request.host


def settings_document(write_key: str, scheme: str, host: str) -> dict[str, Any]:
    """The document in the shape analytics-next's ``CDNSettings`` expects, with only the router as destination.

    No device-mode integrations, middleware or remote plugins (nothing else to
    download), remote metrics off (``sampleRate: 0``: they would go to
    api.segment.io), and no ``_metadata`` bundling info in events (Segment's
    servers use it; the router does not).
    """
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": scheme,
                "addBundledMetadata": False,
                "unbundledIntegrations": [],
                "maybeBundledConfigIds": {},
                "retryQueue": True,
            },
        },
        "plan": {},
        "metrics": {"sampleRate": 0},
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


@bp.route("/v1/projects/<write_key>/settings", methods=["OPTIONS"])
def preflight(write_key: str) -> Response:
    return Response(status=204, headers=CORS_HEADERS)


@bp.get("/v1/projects/<write_key>/settings")
def settings(write_key: str) -> tuple[Response, int, dict[str, str]]:
    """The settings for a known write key; 404 for any other, so a typo fails at load, not silently."""
    config = current_app.extensions["eventrouter.runtime"].config
    if config.source_for_key(write_key) is None:
        body = {"success": False, "errors": [{"path": "writeKey", "message": "unknown write key"}]}
        return jsonify(body), 404, {**CORS_HEADERS, "Cache-Control": "no-store"}
    scheme, host = public_origin()
    headers = {**CORS_HEADERS, "Cache-Control": "public, max-age=60",
               "Vary": "Host, X-Forwarded-Host, X-Forwarded-Proto"}
    return jsonify(settings_document(write_key, scheme, host)), 200, headers
