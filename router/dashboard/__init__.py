"""The delivery dashboard: log in with the admin token once, then a session cookie.

The page (templates/dashboard.html) reads the operator API with that cookie
(router/dashboard/api.py adds what only the page needs); uPlot, vendored in
static/, draws the charts. No build step."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request

from router.dashboard import session

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")


def _token() -> str | None:
    return current_app.extensions["eventrouter.runtime"].config.admin_token


@bp.get("/dashboard")
def dashboard() -> Any:
    token = _token()
    cookie = request.cookies.get(session.COOKIE)
    if not session.valid(cookie, token):
        return render_template("login.html", off=not token, error=None)
    return render_template("dashboard.html", csrf=session.csrf_token(cookie, token))


@bp.post("/dashboard/login")
def login() -> Any:
    import hmac

    token = _token()
    given = request.form.get("token", "")
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        return render_template("login.html", off=not token, error="that is not the admin token"), 401
    response = redirect("/dashboard", code=303)
    response.set_cookie(session.COOKIE, session.issue(token), max_age=session.SESSION_SECONDS,
                        httponly=True, samesite="Strict", secure=request.is_secure, path="/")
    return response


@bp.post("/dashboard/logout")
def logout() -> Response:
    response = redirect("/dashboard", code=303)
    response.delete_cookie(session.COOKIE, path="/")
    return response
