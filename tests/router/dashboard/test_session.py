"""The session cookie and CSRF token: whatever text a client sends, a 401/403 or the login page, never a 500."""
from __future__ import annotations

import pytest

from router.dashboard import session

ADMIN_TOKEN = "admin-secret-token"


@pytest.mark.parametrize("cookie", ["1.é", "é.abc", "١٢.abc", "1.\ud800"])
def test_a_non_ascii_session_cookie_is_not_a_session(cookie):
    assert session.valid(cookie, ADMIN_TOKEN) is False


def test_a_non_ascii_csrf_token_is_refused():
    cookie = session.issue(ADMIN_TOKEN)
    assert session.csrf_ok(cookie, ADMIN_TOKEN, "é") is False
    assert session.csrf_ok(cookie, ADMIN_TOKEN, session.csrf_token(cookie, ADMIN_TOKEN)) is True


def test_a_non_ascii_cookie_gets_a_401_from_the_api_and_the_login_page_from_the_dashboard(make_runtime, client_for):
    client = client_for(make_runtime())
    client.set_cookie(session.COOKIE, "1.é")
    r = client.get("/v1/admin/destinations")
    assert r.status_code == 401
    assert r.get_json()["errors"] == [{"path": "", "message": "send Authorization: Bearer <admin_token>"}]
    page = client.get("/dashboard")
    assert page.status_code == 200 and 'name="token"' in page.get_data(as_text=True)


def test_a_valid_cookie_with_a_non_ascii_csrf_token_gets_a_403(make_runtime, client_for):
    client = client_for(make_runtime())
    client.set_cookie(session.COOKIE, session.issue(ADMIN_TOKEN))
    r = client.post("/v1/admin/dead-letters/hook/replay", json={}, headers={session.CSRF_HEADER: "é"})
    assert r.status_code == 403
    assert r.get_json()["errors"] == [{"path": "", "message": f"missing or wrong {session.CSRF_HEADER}: reload the dashboard"}]
