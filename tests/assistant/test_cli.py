"""``assistant ask`` and ``assistant --help`` as real child processes (``python -m assistant``).

``assistant ask --json`` and ``POST /v1/ask`` must return the same Answer JSON, byte for byte (but for
each answer's own ``id``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.schema import Answer
from assistant.services import Services
from assistant.settings import Settings

PY = sys.executable
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "north-korean-troops-in-ukraine.txt"
QUESTION = "What did South Korea do in response?"


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[bytes]:
    """``python -m assistant ARGS`` with raw bytes on stdout/stderr (so equality is byte-exact)."""
    return subprocess.run([PY, "-m", "assistant", *args], env=env, capture_output=True, timeout=timeout)


@pytest.mark.slow  # a child process, ~10 s (interpreter start, Chroma, the embedder)
async def test_ask_json_is_byte_identical_to_post_v1_ask(cli_env: Any, sample_copy: Settings, embedder: Any) -> None:
    settings = sample_copy  # the sample indexed (a copy of the session's index), in cli_env's data dir
    env = cli_env()
    asked = _run(["ask", QUESTION, "--json"], env)
    assert asked.returncode == 0, asked.stderr.decode()
    assert b"Traceback" not in asked.stderr
    assert asked.stdout.endswith(b"\n") and asked.stdout.count(b"\n") == 1, asked.stdout  # exactly one line
    line = asked.stdout[:-1]

    # the same data dir (``settings`` uses the ``cli_env`` data dir), after the children have exited
    assert Path(env["ASSISTANT_DATA_DIR"]) == settings.data_dir
    app = create_app(Services(settings, embedder=embedder), ui=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
        resp = await client.post("/v1/ask", json={"question": QUESTION})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")

    cli_id, api_id = json.loads(line)["id"], resp.json()["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", cli_id) and re.fullmatch(r"[0-9a-f]{32}", api_id) and cli_id != api_id
    assert resp.content == line.replace(cli_id.encode(), api_id.encode())  # the same bytes but for the answer id
    answer = Answer.model_validate_json(line)  # and it is a real, grounded answer, not two equal errors
    assert not answer.abstained and answer.backend == "extractive" and answer.citations
    assert "summoning of Russia’s ambassador" in answer.answer
    text = SAMPLE.read_text(encoding="utf-8")
    for c in answer.citations:
        assert Path(c.source).name == SAMPLE.name and text[c.start:c.end] == c.quote


@pytest.mark.slow  # ~9 s: the child builds the services before the question is checked
def test_ask_empty_question_is_one_error_line(cli_env: Any) -> None:
    result = _run(["ask", ""], cli_env())
    assert result.returncode == 2, result
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "the question is empty" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--help"], ["usage: assistant", "ingest", "documents", "ask", "serve", "eval", "ASSISTANT_"]),
    (["ask", "--help"], ["usage: assistant ask", "question", "--json", "--backend", "extractive"]),
])
def test_help_exits_0_and_lists_the_commands(cli_env: Any, args: list[str], expected: list[str]) -> None:
    result = _run(args, cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    out = result.stdout.decode()
    missing = [word for word in expected if word not in out]
    assert not missing, f"{missing} not in:\n{out}"
