"""The Flask application factory."""
from __future__ import annotations

import redis
from flask import Flask, Response, jsonify

from router import logs
from router.config import Config, load_config
from router.intake import Intake
from router.runtime import Runtime


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
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024  # far above the 500 KB limit, which ingest answers itself
    app.extensions["eventrouter.runtime"] = runtime
    app.extensions["eventrouter.intake"] = Intake(runtime, on_delete=regulations.forget_deleted)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(regulations.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(cdn_settings.bp)
    app.register_blueprint(metrics.bp)  # observe
    app.register_blueprint(tester.bp)  # observe
    app.register_blueprint(trace_api.bp)  # observe
    app.register_blueprint(dashboard_api.bp)  # observe
    app.register_error_handler(ingest.BadRequest, ingest.bad_request_answer)

    @app.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError) -> tuple[Response, int, dict[str, str]]:
        app.logger.error("redis unavailable: %s", type(exc).__name__)
        body = {"success": False, "errors": [{"path": "", "message": "storage unavailable; retry later"}]}
        return jsonify(body), 503, {"Retry-After": "2"}

    return app
