"""GDPR: delete and suppress users across every destination."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from router.runtime import Runtime

bp = Blueprint("regulations", __name__)


def forget_deleted(rt: Runtime, deletes: list[dict[str, Any]]) -> None:
    """Placeholder until the regulations API lands."""
    return None
