"""The one HTTP client destinations use: a kept-alive session, explicit
timeouts, the shared rate limit before every request, and the generic status
rules (408/429/5xx/timeouts retry). Vendor-specific rules stay in each
destination's client, which looks at the response this returns."""
from __future__ import annotations

import email.utils
import http.client
import math
import time
from typing import Any, Callable, Mapping

import requests
import urllib3

from destinations import recording
from destinations.errors import RejectedEvent, RetryableError
from destinations.http_session import Session, TimedReads

RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
#: how much of a vendor's answer we keep in outcomes and dead letters
RESPONSE_EXCERPT = 2000
#: the most of a vendor's answer read into memory (decoded); a bigger one is a retry, not a worker out of memory
MAX_RESPONSE_BYTES = 10 * 2**20
#: how much one read asks for
_READ_SIZE = 65536
#: the longest wait a vendor's Retry-After can ask for; delivery also keeps it inside the retry window
MAX_RETRY_AFTER = 7 * 86400.0


def excerpt(text: str | bytes | None, limit: int = RESPONSE_EXCERPT) -> str:
    """A response body cut to a size fit for a dead letter, saying that it was cut."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), between 0 and
    MAX_RETRY_AFTER. None when absent or not a number (``nan``): the usual backoff applies.
    ``inf``, ``1e308`` or a date years ahead mean "much later", not a crash."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def broken_by(exc: requests.RequestException) -> BaseException | None:
    """What broke a connection that was made (a close, a reset, an answer that is not HTTP); None
    when there was no connection to break (refused, unreachable, a name that does not resolve)."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.ProtocolError) and reason.args:
        return reason.args[-1] if isinstance(reason.args[-1], BaseException) else reason
    return None


def closed_unanswered(exc: requests.ConnectionError) -> bool:
    """Whether the vendor closed (or reset) the connection before it sent a byte of its answer."""
    return isinstance(broken_by(exc), (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))


class HttpClient:
    """A ``requests.Session`` bound to one vendor host."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        throttle: Callable[..., None] | None = None,
        vendor: str = "destination",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # (connect, read): a vendor that does not accept the connection fails fast
        self.timeout = (min(3.05, timeout), timeout)
        self.session = Session()
        self.session.headers.update({"User-Agent": "eventrouter/0.1"})
        if headers:
            self.session.headers.update(headers)
        if auth is not None:
            self.session.auth = auth
        self.throttle = throttle or (lambda bucket=None: None)
        self.vendor = vendor

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, bucket: str | None = None, **kwargs: Any) -> requests.Response:
        """Send one request. Raises RetryableError for network errors and 408/429/5xx;
        returns every other response for the caller to judge, a redirect too: followed, a POST
        would become a GET without its body (the event lost, a 200 there counted delivered) and
        the token headers would go wherever it points. ``bucket`` names the destination's rate
        limit this request draws from, when the vendor has several."""
        if bucket:
            self.throttle(bucket)
        else:
            self.throttle()
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        timeout = kwargs["timeout"]
        answer_within = (timeout[1] if isinstance(timeout, tuple) else timeout) or self.timeout[1]
        try:
            try:
                response = self._send(method, self.url(path), **kwargs)
                self._read_answer(response, answer_within)
            except requests.RequestException as exc:  # what was sent, for the dead letter
                recording.record(getattr(exc, "request", None), error=type(exc).__name__)
                raise
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeEncodeError) as exc:
            if exc.args and isinstance(exc.args[0], urllib3.exceptions.InvalidHeader):  # in the vendor's answer
                raise RetryableError(f"{self.vendor}'s answer is not valid HTTP ({exc.args[0]})") from exc
            # can never be sent, however often it is tried (a header beyond ISO-8859-1: UnicodeEncodeError);
            # the message may hold a header value (a token)
            raise RejectedEvent(f"the request to {self.vendor} cannot be sent ({type(exc).__name__})") from exc
        except requests.Timeout as exc:
            raise RetryableError(f"{self.vendor} did not answer in time ({type(exc).__name__})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise RetryableError(self._failure(exc)) from exc
        except requests.RequestException as exc:
            raise RetryableError(f"request to {self.vendor} failed ({type(exc).__name__})") from exc
        recording.record(response.request, response)
        if response.status_code in RETRY_STATUSES:
            raise RetryableError(
                f"{self.vendor} answered {response.status_code}",
                status=response.status_code,
                response=excerpt(response.content),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response

    def _failure(self, exc: requests.RequestException) -> str:
        """Why a request got no usable answer, in words that point the operator the right way:
        "could not connect" only when no connection was made."""
        cause = broken_by(exc)
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return f"{self.vendor} stopped in the middle of its answer ({type(cause or exc).__name__})"
        if cause is None:
            return f"could not connect to {self.vendor} ({type(exc).__name__})"
        if isinstance(cause, http.client.HTTPException) and not isinstance(cause, http.client.RemoteDisconnected):
            # only http.client's own words: a BadStatusLine's holds what the vendor sent
            fixed = type(cause) in (http.client.HTTPException, http.client.LineTooLong)
            return f"{self.vendor}'s answer is not valid HTTP ({cause if fixed else type(cause).__name__})"
        return f"{self.vendor} closed the connection without answering ({type(cause).__name__})"

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The request, sent once more on a fresh connection when the vendor closed the connection
        without a byte of answer: a kept-alive connection its idle timeout closed just as the request
        went out on it is no failure of the vendor's. Once only, so a vendor that closes every
        connection is one retryable failure."""
        try:
            return self.session.request(method, url, stream=True, **kwargs)
        except requests.ConnectionError as exc:
            if not closed_unanswered(exc):
                raise
            recording.record(exc.request, error=type(exc).__name__)
        return self.session.request(method, url, stream=True, **kwargs)

    def _read_answer(self, response: requests.Response, within: float) -> None:
        """Read the body into ``response.content``: in ``within`` seconds and at most
        MAX_RESPONSE_BYTES, else RetryableError. The read timeout alone bounds each socket read,
        so a vendor trickling a byte at a time, or sending gigabytes, would hold the worker (and
        its memory) for ever. ``read1`` returns whatever has arrived, so the clock is checked
        between trickled bytes too."""
        if response._content is not False:  # answered without the network (the event tester's dry run)
            return
        deadline = time.monotonic() + within
        reads = getattr(getattr(response.raw, "_fp", None), "_reads", None)
        if isinstance(reads, TimedReads):
            reads.deadline = deadline
        body = bytearray()
        try:
            while chunk := response.raw.read1(_READ_SIZE, decode_content=True):
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise self._cut_off(response, f"{self.vendor}'s answer is larger than {MAX_RESPONSE_BYTES // 2**20} MB",
                                        body, response.status_code)
                if time.monotonic() > deadline:  # no status: a timeout to the circuit breaker, as silence is
                    raise self._cut_off(response, f"{self.vendor} did not finish its answer within {within:g} s", body)
        except urllib3.exceptions.ReadTimeoutError as exc:  # as requests names them when it reads the body
            if time.monotonic() >= deadline:
                raise self._cut_off(response, f"{self.vendor} did not finish its answer within {within:g} s", body) from exc
            raise requests.exceptions.ReadTimeout(exc, request=response.request) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc, request=response.request) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc, request=response.request) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc, request=response.request) from exc
        else:
            response._content = bytes(body)
            response._content_consumed = True
        finally:
            response.close()  # back to the pool when read to the end, else closed

    def _cut_off(self, response: requests.Response, reason: str, body: bytearray, status: int | None = None) -> RetryableError:
        """The error for an answer given up half read, recorded with what had arrived."""
        response.close()
        response._content = bytes(body[:recording.BODY_LIMIT + RESPONSE_EXCERPT])
        response._content_consumed = True
        recording.record(response.request, response, error=reason)
        return RetryableError(reason, status=status, response=excerpt(response._content))

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self.session.close()
