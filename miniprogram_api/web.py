"""``register(app)``: the /mp/v1 blueprint — routes from the registry, errors, rate limits, docs.

Rate limits (flask-limiter, counters in the app's Redis) are per user: the signed-in person
when the request carries a valid token, else the client address. Every endpoint shares a
blueprint-wide budget; writes that cost something (reports, uploads, binding) have their own
tighter one on top. The counters go through the app's request client (short timeouts, a
circuit breaker: backend/redis_conn.py); if Redis is unreachable the limiter counts in this
process instead (flask-limiter's in-memory fallback, checking Redis again with back-off)
rather than turning a counter outage into an outage of reporting.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, g, request
from flask_limiter import Limiter
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from backend.redis_conn import is_sentinel_url, redis_url
from miniprogram_api import auth, loop, media, openapi, privacy, residents, roster, staff
from miniprogram_api.api import Call, Operation, parse_json_body, parse_path, parse_query, render
from miniprogram_api.errors import ApiError, by_status
from miniprogram_api.errors import install as install_errors

PREFIX = "/mp/v1"
DEFAULT_LIMIT = "300/minute"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MODULES = (auth, residents, loop, staff, media, roster, privacy)


def operations() -> list[Operation]:
    return [op for module in MODULES for op in module.api.operations]


def limiter_storage_uri(settings) -> str:
    """flask-limiter (``limits``) spells a unix socket ``redis+unix://``; redis-py ``unix://``.
    Behind Sentinel the limiter gets the app's own Sentinel-managed pool (``storage_options``
    below), so its URI only selects the plain Redis storage: ``limits``' own Sentinel storage
    would build a second client without our timeouts and breaker."""
    url = redis_url(settings)
    if is_sentinel_url(url):
        return "redis://"
    return "redis+unix://" + url[len("unix://"):] if url.startswith("unix://") else url


def _make_view(op: Operation):
    def view(**path_values):
        g.mp_operation = op
        principal = auth.authenticate(op.auth) if op.auth is not None else None
        path = parse_path(op, path_values)
        query = parse_query(op)
        body = parse_json_body(op) if op.body is not None else None
        return render(op, op.view(Call(principal=principal, body=body, query=query, path=path)))

    # flask-limiter keys decorated limits by the view's qualified name: keep them distinct.
    view.__name__ = view.__qualname__ = f"mp_{op.endpoint}"
    view.__module__ = op.view.__module__
    return view


def _route_matcher(ops: list[Operation]) -> Map:
    rules = [Rule(op.rule, endpoint=op.endpoint, methods=[op.method]) for op in ops]
    rules += [Rule("/openapi.json", endpoint="openapi", methods=["GET"]),
              Rule("/docs", endpoint="docs", methods=["GET"])]
    return Map(rules)


def _charged(response: Response) -> bool:
    """A request counts against its caller's limit unless we failed it (a 503 while the
    database is away): a mini-program retrying the same report through an outage is not
    then refused as too many once we are back."""
    return response.status_code < 500


def _init_limiter_for_blueprint(limiter: Limiter, app, name: str) -> None:
    """``limiter.init_app(app)``, with the hooks it adds to every request of the app moved to
    the blueprint ``name``: a limit is declared only under /mp/v1, so /wechat, the console and
    the rest pay nothing for the limiter (issue 18)."""
    hooks = {"before": app.before_request_funcs, "after": app.after_request_funcs,
             "teardown": app.teardown_request_funcs}
    before = {kind: list(funcs.get(None, ())) for kind, funcs in hooks.items()}
    limiter.init_app(app)
    moved = {}
    for kind, funcs in hooks.items():
        moved[kind] = [f for f in funcs.get(None, ()) if f not in before[kind]]
        funcs[None] = before[kind]
        funcs.setdefault(name, []).extend(moved[kind])
    app.extensions["ejia.mp.limiter_hooks"] = moved


def register(app) -> None:
    settings = app.extensions["ejia.settings"]
    ops = operations()
    blueprint = Blueprint("mp", __name__, url_prefix=PREFIX, static_folder="static",
                          static_url_path="/static")
    install_errors(blueprint)
    limiter = Limiter(key_func=auth.rate_limit_key, storage_uri=limiter_storage_uri(settings),
                      storage_options={"connection_pool": app.extensions["ejia.redis"].connection_pool},
                      key_prefix="ejia-mp", strategy="fixed-window", swallow_errors=True,
                      in_memory_fallback_enabled=True, headers_enabled=True)
    for op in ops:
        view = _make_view(op)
        if op.limit:
            view = limiter.limit(op.limit, key_func=auth.rate_limit_key, override_defaults=False,
                                 deduct_when=_charged)(view)
        blueprint.add_url_rule(op.rule, op.endpoint, view, methods=[op.method], provide_automatic_options=False)

    spec_cache: dict = {}

    @blueprint.get("/openapi.json")
    def openapi_json():
        if "spec" not in spec_cache:
            spec_cache["spec"] = json.dumps(openapi.build_spec(ops, PREFIX), ensure_ascii=False)
        return Response(spec_cache["spec"], mimetype="application/json")

    @blueprint.get("/docs")
    def docs():
        return Response(openapi.docs_page(PREFIX), mimetype="text/html")

    matcher = _route_matcher(ops).bind("localhost")

    @blueprint.route("/", defaults={"rest": ""}, methods=ALL_METHODS, provide_automatic_options=False)
    @blueprint.route("/<path:rest>", methods=ALL_METHODS, provide_automatic_options=False)
    def unmatched(rest: str):
        """Unknown paths and methods under /mp/v1 answer in the API's JSON shape; OPTIONS lists
        exactly the documented methods of a known path."""
        if request.method == "OPTIONS":
            methods = matcher.allowed_methods("/" + rest)
            if not methods:
                raise ApiError(404, "not_found", "没有这个接口")
            return Response(status=204, headers={"Allow": ", ".join(sorted(set(methods) | {"OPTIONS"}))})
        try:
            matcher.match("/" + rest, method=request.method)
        except MethodNotAllowed as exc:
            raise MethodNotAllowed(valid_methods=exc.valid_methods) from None
        except NotFound:
            pass
        raise ApiError(404, "not_found", "没有这个接口")

    @blueprint.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "application/json":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    limiter.limit(DEFAULT_LIMIT, key_func=auth.rate_limit_key, deduct_when=_charged)(blueprint)
    app.register_blueprint(blueprint)
    app.extensions.setdefault("ejia.error_shapes", {})[PREFIX] = by_status
    _init_limiter_for_blueprint(limiter, app, blueprint.name)
    app.extensions["ejia.mp.limiter"] = limiter
    app.extensions["ejia.mp.operations"] = ops
