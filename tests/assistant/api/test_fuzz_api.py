"""Schemathesis over the whole OpenAPI schema against the ASGI app (fake LLM, own index): whatever the
schema allows and what it does not, no request gets a 5xx. Includes /v1/chat/completions (streamed
too) and multipart uploads. The example count is small to keep the run near 30 s."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from assistant.api.app import create_app
from assistant.llm.base import Message
from assistant.llm.fake import ScriptedLLM
from assistant.services import Services
from assistant.settings import Settings

pytestmark = pytest.mark.slow
EXAMPLES = 8  # per operation and mode (valid, then invalid data)


def _quote_or_nothing(messages: list[Message]) -> str:
    first = re.search(r"^\[1\] (.+)$", messages[-1]["content"], re.M)
    return f"{first.group(1)} [1]" if first else "Nothing."


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, embedder: Any, copy_sample_index: Any) -> Any:
    data_dir = copy_sample_index(tmp_path_factory.mktemp("fuzz") / "data")  # its own: the fuzz deletes
    settings_ = Settings(data_dir=data_dir, llm={"backend": "fake"}, max_upload_mb=1)
    services = Services(settings_, embedder=embedder, llm=ScriptedLLM(responder=_quote_or_nothing))
    return create_app(services, ui=False)


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def test_no_5xx_over_the_whole_schema(api_schema: Any) -> None:
    # one Hypothesis run per operation (schemathesis' lazy pytest fixture does not support this pytest)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("POST", "/v1/ask"), ("POST", "/v1/ask/stream"), ("POST", "/v1/chat/completions"),
        ("POST", "/v1/documents"), ("GET", "/v1/documents"), ("DELETE", "/v1/documents/{doc_id}")}
    for operation, mode in itertools.product(operations, GenerationMode):
        @given(case=operation.as_strategy(mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text[:500]  # the JSON error shape

        try:
            no_server_error()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (e.g. GET /healthz has no inputs)


@settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(min_size=1, max_size=40), route=st.sampled_from(["/v1/ask", "/v1/chat/completions"]))
def test_any_unicode_question_is_answered_or_refused(text: str, route: str, fuzz_app: Any) -> None:
    """Regression: a lone surrogate (``"\\ud800"`` is valid JSON) crashed the tokenizer with a 500."""
    from starlette.testclient import TestClient

    body = {"question": text} if route == "/v1/ask" else {"messages": [{"role": "user", "content": text}]}
    with TestClient(fuzz_app, raise_server_exceptions=False) as client:
        response = client.post(route, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 409, 422), (text, response.status_code, response.text[:300])
