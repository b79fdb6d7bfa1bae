"""``GET /v1/admin/trace``: an event's trace by messageId, or a user's latest events (router/trace.py)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from router.admin import admin_only, page_size
from router.ingest import BadRequest
from router.runtime import Runtime
from router.trace import search

bp = Blueprint("trace", __name__)


@bp.get("/v1/admin/trace")
@admin_only
def trace_view() -> Response:
    """``?messageId=`` or ``?userId=`` (with ``limit``, newest first)."""
    rt: Runtime = current_app.extensions["eventrouter.runtime"]
    mid, uid = request.args.get("messageId"), request.args.get("userId")
    if not (mid or uid):
        raise BadRequest(400, "give ?messageId= or ?userId=")
    return jsonify({"traces": search(rt, message_id=mid, user_id=uid, limit=page_size(20))})
