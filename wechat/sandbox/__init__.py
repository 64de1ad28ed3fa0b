"""A local stand-in for the WeChat HTTP APIs, with fault injection and a chat simulator.

    python -m server sandbox --port 8001      # then WECHAT_API_BASE=http://127.0.0.1:8001

``create_sandbox_app(settings, config)`` builds the Flask app (tests run it in a thread);
``serve(host, port)`` runs it as a process. See docs/wechat-sandbox.md.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from backend.config import Settings

log = logging.getLogger("ejia.sandbox")
HERE = Path(__file__).parent


def create_sandbox_app(settings: "Settings", config: dict | None = None) -> "Flask":
    """``config``: any of state.DEFAULT_CONFIG's keys, plus ``inject``: a list of faults
    (the JSON accepted by ``POST /_sandbox/inject``) active from the start and after resets."""
    from flask import Flask, jsonify

    from wechat.sandbox import api, control, oauth, simulator
    from wechat.sandbox.state import DEFAULT_CONFIG, SandboxState

    config = dict(config or {})
    initial_faults = config.pop("inject", None) or []
    try:
        changes = control.config_changes(config)
        faults = [control.fault_from(dict(f)) for f in initial_faults]
    except (control.BadRequest, TypeError, ValueError) as exc:
        raise ValueError(f"sandbox configuration: {exc}") from None
    state = SandboxState(settings=settings, config={**DEFAULT_CONFIG, **changes})
    state.initial_faults = faults
    app = Flask(__name__, static_folder=str(HERE / "static"), static_url_path="/_sandbox/static",
                template_folder=str(HERE / "templates"))
    app.config["MAX_CONTENT_LENGTH"] = 12 << 20
    app.extensions["sandbox.state"] = state
    state.reset()
    app.register_blueprint(api.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(simulator.bp)

    @app.errorhandler(404)
    def _not_found(err):
        return jsonify({"error": {"code": "not_found", "message": "not an API the sandbox implements"}}), 404

    @app.errorhandler(405)
    def _wrong_method(err):
        return jsonify({"error": {"code": "method_not_allowed", "message": str(err.description)}}), 405

    @app.errorhandler(413)
    def _too_large(err):
        return jsonify({"errcode": 40006, "errmsg": "request entity too large"}), 413

    for register in _extras():
        register(app, state)
    return app


def _extras():
    """``register(app, state)`` of every module in wechat/sandbox/extras/ (e.g. an SMS stand-in)."""
    from wechat.sandbox import extras

    for info in sorted(pkgutil.iter_modules(extras.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{extras.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            yield register


def config_from_env(environ=None) -> dict:
    """EJIA_WECHAT_CALLBACK_URL and EJIA_SANDBOX_CONFIG (a JSON object of sandbox settings)."""
    environ = os.environ if environ is None else environ
    config: dict = {}
    raw = environ.get("EJIA_SANDBOX_CONFIG", "").strip()
    if raw:
        try:
            config = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"EJIA_SANDBOX_CONFIG is not JSON: {exc}") from None
        if not isinstance(config, dict):
            raise ValueError("EJIA_SANDBOX_CONFIG must be a JSON object")
    if environ.get("EJIA_WECHAT_CALLBACK_URL"):
        config["callback_url"] = environ["EJIA_WECHAT_CALLBACK_URL"]
    return config


def serve(host: str, port: int) -> int:
    """Run the sandbox until interrupted (threaded: injected latency must not block others)."""
    from werkzeug.serving import make_server

    from backend import config as settings_module

    try:
        app = create_sandbox_app(settings_module.current(), config_from_env())
    except ValueError as exc:
        log.error("sandbox configuration: %s", exc)
        return 2
    server = make_server(host, port, app, threaded=True)
    log.info("WeChat sandbox on http://%s:%s (chat simulator: /_sandbox/chat)", host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
