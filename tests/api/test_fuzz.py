"""Fuzzing the API with schemathesis from the OpenAPI schema: no 5xx, replies as documented.

A bounded number of examples per operation, valid and invalid ones, with a manager key so
protected routes are reached."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from geo311.api import create_app
from geo311.api.deps import get_session
from tests.staff import make_world

EXAMPLES = 12


def test_every_operation_survives_generated_requests(settings, session_factory, session):
    world = make_world(session)
    app = create_app(settings)

    def override():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = override
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    headers = world.headers("manager")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25
    seen: dict[int, int] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @hyp_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
            seen[response.status_code // 100] = seen.get(response.status_code // 100, 0) + 1

        run()
    assert seen.get(2) and seen.get(4) and not seen.get(5), seen  # both valid and refused requests were made
