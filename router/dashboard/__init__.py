"""The delivery dashboard: one page over the operator API (the admin token stays in the browser tab)."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("dashboard", __name__, template_folder="templates")


@bp.get("/dashboard")
def dashboard() -> str:
    return render_template("dashboard.html")
