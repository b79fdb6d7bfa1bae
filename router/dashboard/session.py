"""The dashboard's login: the admin token once, then an HttpOnly session cookie.

The cookie is ``<issued unix time>.<HMAC(admin_token, issued)>``: nothing to
store, valid on every web process, void when the admin token changes or after
SESSION_SECONDS. State-changing requests made with the cookie must carry
``X-CSRF-Token``, an HMAC of the cookie the page received when it was served
(a cross-site page can send the cookie, SameSite aside, but cannot read the token).
"""
from __future__ import annotations

import hashlib
import hmac
import time

COOKIE = "er_session"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of any text a client sent (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("ascii"))


def issue(token: str, now: float | None = None) -> str:
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{_mac(token, 'session:' + issued)}"


def valid(cookie: str | None, token: str | None, now: float | None = None) -> bool:
    if not (cookie and token) or "." not in cookie:
        return False
    issued, mac = cookie.split(".", 1)
    if not (issued.isascii() and issued.isdigit()) or not _same(mac, _mac(token, "session:" + issued)):
        return False
    age = (time.time() if now is None else now) - int(issued)
    return 0 <= age <= SESSION_SECONDS


def csrf_token(cookie: str, token: str) -> str:
    return _mac(token, "csrf:" + cookie)


def csrf_ok(cookie: str, token: str, given: str | None) -> bool:
    return bool(given) and _same(given, csrf_token(cookie, token))
