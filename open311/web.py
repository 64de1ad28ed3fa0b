"""Open311 GeoReport v2 at /open311/v2 (DESIGN §4): routes, formats by suffix, spec errors.

Every answer under the prefix — including unknown resources, wrong methods, oversized
bodies and domain errors — is a GeoReport document in the format the URL's suffix asks
for (XML when it names none): 404 unknown resource, 403 missing/invalid api_key, 400
otherwise. Resources live in ``services`` (discovery, services, definitions),
``service_requests`` (reads, tokens) and ``submit`` (POST).
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from backend.errors import DomainError
from backend.replica import reading_replica
from open311 import access, service_requests, services, submit
from open311.formats import FORMATS, format_of, render, render_errors
from open311.params import Open311Error

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
# Pages for people (the discovery document's key_service points here), outside the API prefix.
pages = Blueprint("open311_pages", __name__, url_prefix="/open311", template_folder="templates")
MAX_BODY = 128 * 1024  # a 4,000-character description percent-encoded is ~36 KB
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]
HTTP_DESCRIPTIONS = {
    400: "请求格式不正确",
    404: "没有这个资源；请在网址末尾加 .xml 或 .json，见 discovery.xml",
    405: "这个资源不支持该请求方法",
    413: f"请求内容太大（最多 {MAX_BODY // 1024} KB）",
    503: "系统正在维护，请稍后重试",
}


def register(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(pages)
    # URLs no route matched and a database that is down answer in the spec's format too.
    app.extensions.setdefault("ejia.error_shapes", {})[bp.url_prefix] = _error_document


@pages.get("/api-key")
def key_service():
    """How a department system gets an api_key: what discovery's ``key_service`` links to."""
    from backend.models.admin import DEFAULT_RATE_LIMIT
    from backend.services.api_keys import SCOPE_NAMES

    return render_template("open311/key_service.html", scopes=SCOPE_NAMES, default_rate=DEFAULT_RATE_LIMIT,
                           discovery_url=services.public_url("/v2/discovery.xml"))


def _error_document(status: int):
    return render_errors(status, HTTP_DESCRIPTIONS.get(status, "请求无法处理"), format_of(request.path))


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, HTTP_DESCRIPTIONS[404])
    return fmt


@bp.before_request
def _limit_body():
    request.max_content_length = MAX_BODY
    request.max_form_parts = 100


@bp.get("/discovery.<fmt>")
def discovery(fmt):
    return render(services.discovery_document(), _format(fmt), "discovery")


@bp.get("/services.<fmt>")
def service_list(fmt):
    fmt = _format(fmt)
    with reading_replica():
        document = services.services_document()
    return render(document, fmt, "services", "service")


@bp.get("/services/<code>.<fmt>")
def service_definition(code, fmt):
    fmt = _format(fmt)
    with reading_replica():
        document = services.definition_document(code)
    return render(document, fmt, "service_definition")


# GET requests read from the replica when there is a usable one (backend/replica.py): the key's
# check before (it writes last_used_at) and the audit row of a full read after stay on the
# primary. GET tokens/{token} stays on the primary: a client asks it right after its POST.
@bp.get("/requests.<fmt>")
def request_list(fmt):
    fmt = _format(fmt)
    reader = access.reader(request.args)
    with reading_replica():
        events = service_requests.find_requests(request.args, reader)
    return render(service_requests.documents(events, reader), fmt, "service_requests", "request")


@bp.post("/requests.<fmt>")
def request_create(fmt):
    fmt = _format(fmt)
    return render(submit.create_request(), fmt, "service_requests", "request")


@bp.get("/requests/<request_id>.<fmt>")
def request_one(request_id, fmt):
    fmt = _format(fmt)
    reader = access.reader(request.args)
    with reading_replica():
        event = service_requests.find_request(request_id, reader)
    return render(service_requests.documents([event], reader), fmt, "service_requests", "request")


@bp.get("/tokens/<token>.<fmt>")
def token(token, fmt):
    fmt = _format(fmt)
    return render(service_requests.token_document(token), fmt, "service_requests", "request")


@bp.route("/", defaults={"rest": ""}, methods=ANY_METHOD)
@bp.route("/<path:rest>", methods=ANY_METHOD)
def unknown(rest):
    """Routing misses under the prefix answer in the spec's format (an app-level 404/405 would not):
    405 when the path is a resource that takes another method, else 404."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "open311.unknown":
            allowed.append(method)
    if allowed:
        response = render_errors(405, HTTP_DESCRIPTIONS[405], format_of(request.path))
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return render_errors(404, HTTP_DESCRIPTIONS[404], format_of(request.path))


@bp.errorhandler(Open311Error)
def _open311_error(err: Open311Error):
    response = render_errors(err.status, err.description, format_of(request.path))
    if err.retry_after:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


@bp.errorhandler(DomainError)
def _domain_error(err: DomainError):
    status = err.status if err.status in (403, 404) else 400
    return render_errors(status, err.message, format_of(request.path))


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    status = err.code if err.code in HTTP_DESCRIPTIONS or (err.code or 0) >= 500 else 400
    return render_errors(status, HTTP_DESCRIPTIONS.get(status, "服务暂时不可用"), format_of(request.path))


@bp.errorhandler(InternalServerError)
def _server_error(err: InternalServerError):
    """A fault on our side (database down, a bug): logged by Flask, answered in the spec's format."""
    return render_errors(500, "服务暂时不可用，请稍后重试", format_of(request.path))
