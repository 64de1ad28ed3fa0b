"""The generated OpenAPI document, and schemathesis against the live API: no 5xx, answers conform."""
from __future__ import annotations

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, settings

from backend.models import Building, BuildingUnit, Resident
from backend.services.context import resident_actor
from backend.services.events import Submission, route_event, submit_event
from miniprogram_api import openapi, web
from tests.factories import make_world
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401

STAFF_TAGS = {"staff", "roster"}


@pytest.fixture
def tokens(live, sandbox, redis_conn):
    """A small world with a few rows, so that generated ids sometimes hit real ones."""
    world = make_world()
    bind_mp_logins(world, "worker_a")
    building = Building.create(area=world.grid_a, name="1号楼")
    BuildingUnit.create(building=building, name="1单元", qr_token="unit-token-0001")
    staff, resident = live.client(), live.client()
    staff.login("worker_a")
    resident.login("res-1")
    reporter = Resident.get(Resident.mp_openid == "sandbox-res-1")
    for text in ("楼道堆满纸箱", "路灯不亮"):
        event = submit_event(Submission(description=text, reporter=resident_actor(reporter),
                                        lat=world.in_a[0], lng=world.in_a[1])).event
        route_event(event.id)
    return {"staff": staff.token, "resident": resident.token}


# The same document /mp/v1/openapi.json serves (asserted below), built from the code at import
# so that pytest can parametrize one test per operation before any server runs.
SPEC = openapi.build_spec(web.operations(), web.PREFIX)
schema = schemathesis.openapi.from_dict(SPEC)


def test_spec_is_generated_from_every_registered_operation(live, tokens):
    spec = live.client().get("/openapi.json").json
    assert spec == SPEC and spec["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    declared = {(op.method, "/mp/v1" + op.rule.replace("<int:", "{").replace("<", "{").replace(">", "}"))
                for op in web.operations()}
    assert documented == declared
    create = spec["paths"]["/mp/v1/events"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CreateEventIn")
    body = spec["components"]["schemas"]["CreateEventIn"]
    assert body["additionalProperties"] is False and "client_key" in body["required"]
    assert set(create["responses"]) >= {"200", "201", "400", "401", "403", "429"}
    docs = live.client().get("/docs")
    assert docs.status == 200 and b"swagger-ui-bundle.js" in docs.body and b"//cdn" not in docs.body
    asset = live.client().get("/static/vendor/swagger-ui-dist-5.35.0/swagger-ui-bundle.js")
    assert asset.status == 200 and len(asset.body) > 100_000


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case, live, tokens):
    tag = (case.operation.definition.raw.get("tags") or [""])[0]
    token = tokens["staff"] if tag in STAFF_TAGS else tokens["resident"]
    # Every check except "a schema-valid request must succeed": the API also refuses, with a
    # documented 4xx, input that is well-formed but wrong (a point outside the served area, an
    # unknown QR token, a phone number that is not a phone) — JSON Schema cannot say that.
    case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=[positive_data_acceptance])


@pytest.mark.parametrize("path", ["/no-such-thing", "/events%0A", "/events/1/%0A", "/%0D%0Ax", "/roster/%00",
                                  "/" + "长" * 300])
def test_every_unknown_path_answers_the_api_json_404(live, path):
    """A path the catch-all rule cannot take (a newline defeats its pattern) is still the API's 404."""
    import requests

    response = requests.get(live.url + "/mp/v1" + path, timeout=10)
    assert response.status_code == 404, response.text[:200]
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    wrong_method = requests.delete(live.url + "/mp/v1/events%0A", timeout=10)
    assert wrong_method.status_code == 404 and wrong_method.json()["error"]["code"] == "not_found"
