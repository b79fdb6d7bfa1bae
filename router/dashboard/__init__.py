"""The delivery dashboard: log in with the admin token once, then a session cookie.

The page (templates/dashboard.html) reads the operator API with that cookie
(router/dashboard/api.py adds what only the page needs); uPlot, vendored in
static/, draws the charts. No build step."""
from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request

from router.dashboard import session

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")


@bp.context_processor
def _nonce() -> dict[str, str]:
    """The page's inline style and script carry this answer's CSP nonce (see security_headers)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return {"nonce": g.csp_nonce}


@bp.after_request
def security_headers(response: Response) -> Response:
    """What an admin page tells the browser: run only its own scripts and styles (the inline ones by
    the nonce), never inside another site's frame (clickjacking the replay and discard buttons), never
    sniff a type, send no referrer, and keep no copy of a page (it holds the CSRF token)."""
    own = "'self'" + (f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {own}; style-src {own}; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


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
    token, cookie = _token(), request.cookies.get(session.COOKIE)
    # another site's page can post this form too (a top-level navigation may set cookies): only the
    # page's own form, which carries its CSRF token, ends a session
    if token and session.valid(cookie, token) and not session.csrf_ok(cookie, token, request.form.get("csrf")):
        abort(403, description="missing or wrong CSRF token: reload the dashboard")
    response = redirect("/dashboard", code=303)
    response.delete_cookie(session.COOKIE, path="/")
    return response
