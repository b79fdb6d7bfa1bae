"""The Flask application factory."""
from __future__ import annotations

from functools import partial

import redis
from flask import Flask, Response, current_app, jsonify, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound

from router import logs, openapi
from router.config import Config, load_config
from router.ingest_wsgi import TrackingAPI
from router.intake import Intake
from router.runtime import Runtime


#: the most any request body may be as sent, refused (413) from its Content-Length before it is read:
#: ingest takes 500 KB decoded (it answers that limit itself), which gzip does not make twice as large, so a
#: web process holds no more than this per connection (gevent: up to a thousand connections each)
MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Config | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web app. Tests pass a runtime; ``gunicorn 'router.app:create_app()'`` loads the config."""
    if runtime is None:
        runtime = Runtime(config or load_config())
        logs.configure(runtime.config.log_format)  # observe: a web process of its own (gunicorn)
    from router import admin, cdn_settings, dashboard, ingest, regulations, webhook
    from router import metrics, tester, trace_api  # observe: /metrics, /v1/admin/test/<destination>, /v1/admin/trace
    from router.dashboard import api as dashboard_api  # observe: what the dashboard page reads

    app = Flask(__name__)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["eventrouter.runtime"] = runtime
    app.extensions["eventrouter.intake"] = Intake(runtime, on_delete=regulations.forget_deleted)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(regulations.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(cdn_settings.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(metrics.bp)  # observe
    app.register_blueprint(tester.bp)  # observe
    app.register_blueprint(trace_api.bp)  # observe
    app.register_blueprint(dashboard_api.bp)  # observe
    app.register_error_handler(ingest.BadRequest, ingest.bad_request_answer)
    app.after_request(redacted)
    app.after_request(private)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not is_api_path(request.path):
            return exc  # the dashboard's pages keep Flask's HTML answers
        body = {"success": False, "errors": [{"path": "", "message": http_error_message(exc)}]}
        response = jsonify(body)
        response.status_code = 404 if only_preflight(exc) else exc.code or 500
        for name, value in exc.get_headers():
            if name.lower() != "content-type" and response.status_code != 404:
                response.headers[name] = value
        return response

    @app.errorhandler(ParseException)
    def _broken_chunks(exc: ParseException) -> Response | HTTPException:
        # gunicorn parses a chunked body as a view reads it, and raises its own errors (werkzeug turns
        # a server's OSError into a 400 itself, not these): the client's bytes are wrong, not the app
        return _http_error(BadRequest(f"the chunked request body is malformed ({type(exc).__name__})"))

    @app.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError) -> tuple[Response, int, dict[str, str]]:
        app.logger.error("redis unavailable: %s", type(exc).__name__)
        return jsonify(ingest.STORAGE_UNAVAILABLE), 503, {"Retry-After": "2"}

    app.wsgi_app = TrackingAPI(app)  # type: ignore[method-assign]
    return app


#: answers that show stored records (dead letters, rejections, traces, metrics): redacted as they leave
REDACTED_PATHS = ("/v1/admin/", "/v1/regulations", "/metrics")


def redacted(response: Response) -> Response:
    """Last line of defence, for every operator answer at once: no configured secret leaves, even
    from records stored before a secret was configured or by code that forgot to redact."""
    if not request.path.startswith(REDACTED_PATHS) or response.direct_passthrough or response.is_streamed:
        return response
    redactor = current_app.extensions["eventrouter.runtime"].redactor
    if response.mimetype == "application/json":
        clean = redactor.json_text  # a number holding a secret's digits stays a number
    elif request.path == "/metrics":
        clean = partial(redactor.json_text, numbers=False)  # the label values; counts stay counts
    elif response.mimetype.startswith("text/"):
        clean = redactor.text
    else:
        return response
    text = response.get_data(as_text=True)
    redacted_text = clean(text)
    if redacted_text != text:
        response.set_data(redacted_text)
    return response


def private(response: Response) -> Response:
    """Operator answers hold people's events: no browser or proxy keeps a copy, none is read as HTML."""
    if request.path.startswith(REDACTED_PATHS):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def is_api_path(path: str) -> bool:
    """Paths whose callers are programs: their errors are JSON, never an HTML page."""
    return path.startswith("/v1/") or path in ("/v1", "/healthz", "/openapi.json")


def only_preflight(exc: HTTPException) -> bool:
    """A 405 where only the CORS preflight of ``/v1/<anything>`` matched: to a caller, no such path."""
    return isinstance(exc, MethodNotAllowed) and set(exc.valid_methods or ()) <= {"OPTIONS"}


def http_error_message(exc: HTTPException) -> str:
    """A reason a client developer can act on, in the words of the HTTP status."""
    if isinstance(exc, NotFound) or only_preflight(exc):
        return f"no such path: {request.method} {request.path} (the API is described at /openapi.json)"
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(exc.valid_methods or []))
        return f"{request.method} is not allowed on {request.path} (allowed: {allowed})"
    return f"{exc.name}: {exc.description}" if exc.description else str(exc.name)
