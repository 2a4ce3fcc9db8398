"""Property-based API test: schemathesis generates requests from the OpenAPI schema; none may get a 5xx.

Bounded (25 examples per operation and mode, derandomized, no example database) and
authenticated (admin key; submitter key for POST /needs), so every operation is reached past auth. Positive
examples follow the schema; negative ones break it and must get a 4xx, never a 5xx.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_helpers import bearer, make_runtime
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from matcher.schema import Need, Profile
from service.app import create_app
from service.keys import create_key
from service.settings import Settings

pytestmark = pytest.mark.slow


def _cases() -> list[tuple[str, GenerationMode]]:
    """('METHOD /path', mode) for every operation in the app's schema.

    Building the app writes the web session secret under home, so home is a throwaway
    directory (it once was a relative path, and the secret it made got committed).
    An operation with no parameters, body or security has no schema to break: positive only.
    """
    with tempfile.TemporaryDirectory() as home:
        spec = create_app(Settings(home=Path(home), encoder="hashing")).openapi()
    cases = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            cases.append((f"{method.upper()} {path}", GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody") or op.get("security"):
                cases.append((f"{method.upper()} {path}", GenerationMode.NEGATIVE))
    return cases


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory, detector: object, fixture_profiles: list[Profile],
                fixture_needs: list[Need]) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app's loaded schema over the fixture corpus (SQLite), and an admin and a submitter key."""
    home = tmp_path_factory.mktemp("fuzz") / "home"
    runtime = make_runtime(Settings(home=home, encoder="hashing", submissions_per_minute=100_000,
                                    max_body_bytes=16_000, max_description_chars=4_000), detector)
    runtime.ingest(fixture_profiles, fixture_needs)
    keys = {"admin": create_key(runtime.store, "admin")[0],
            "submitter": create_key(runtime.store, "submitter", "Korle Bu Teaching Hospital")[0]}
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(runtime=runtime)), keys
    runtime.close()


@pytest.mark.parametrize(("operation", "mode"), _cases(), ids=lambda v: getattr(v, "value", v))
def test_no_generated_request_gets_a_server_error(fuzz_target: tuple[Any, dict[str, str]], operation: str,
                                                  mode: GenerationMode) -> None:
    schema, keys = fuzz_target
    # Admins reach every operation; submitting a need is a submitter's job (admins must name an institution).
    key = keys["submitter" if operation == "POST /api/v1/needs" else "admin"]
    method, path = operation.split(" ", 1)
    strategy = schema[path][method].as_strategy(generation_mode=mode)

    @settings(max_examples=25, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=bearer(key), checks=[not_a_server_error])

    check()
