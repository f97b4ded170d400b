"""Property-based fuzzing of the HTTP API from its own OpenAPI spec (schemathesis), bounded.

Schemathesis generates requests (parameters, bodies of every documented media type)
for each operation and checks that none is a server error and that responses match the
spec (status codes, content types, JSON schemas). "Schema-valid data is accepted" is
left out: a schema cannot say which bytes are a decodable image of at least 5x5 pixels. Its pytest plugin does not load under
pytest 9, so the operations are driven with hypothesis directly.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from pyfast.serve import ServeConfig
from pyfast.serve.server import BackgroundServer

EXAMPLES = 15


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(ServeConfig(port=0, max_size=32, max_delay_ms=1, max_body_bytes=100_000)) as running:
        yield running


def operations(url: str):
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
def test_api_conforms_to_its_spec_and_never_fails_server_side(server):
    found = operations(server.url)
    assert {op.label for op in found} >= {"POST /v1/stylize/{model}", "GET /v1/models", "GET /healthz", "GET /metrics"}
    statuses: dict[str, set[int]] = {}
    for operation in found:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        check()
    assert all(code < 500 or code == 503 for codes in statuses.values() for code in codes), statuses
    assert statuses["POST /v1/stylize/{model}"] - {200}, "the fuzzer never reached an error path"
