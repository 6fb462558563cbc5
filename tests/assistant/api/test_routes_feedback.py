"""POST /v1/feedback in process: a vote on a real answer (by its id) is stored durably with the question,
the answer, its citations and the index generation; unknown ids are 404; bad bodies and passages 422."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from api_helpers import QUESTION, SAMPLE, assert_error

from assistant.feedback import FeedbackStore

# a sentence of the sample that the answer to QUESTION does not lead with (the user's "right passage")
RIGHT = "Reports indicating that up to 11,000 North Korean soldiers might be stationed near Ukraine’s Kursk region"


async def _app_and_client(make_app: Any, make_client: Any, tmp_path: Path) -> tuple[Any, Any, Path]:
    path = tmp_path / "feedback.jsonl"
    app = make_app(feedback={"path": path})
    return app, await make_client(app), path


async def test_feedback_round_trip_stores_the_answer_with_its_context(make_app: Any, make_client: Any,
                                                                      tmp_path: Path) -> None:
    app, client, path = await _app_and_client(make_app, make_client, tmp_path)
    history = [{"role": "user", "content": "Who is Ukraine's Defense Minister?"},
               {"role": "assistant", "content": "Rustem Umerov."}]
    asked = await client.post("/v1/ask", json={"question": QUESTION, "history": history})
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert re.fullmatch(r"[0-9a-f]{32}", answer["id"])

    # whitespace in the quote need not match the document's
    resp = await client.post("/v1/feedback", json={"answer_id": answer["id"], "vote": "down", "note": "not this",
                                                   "passage": {"quote": "  " + RIGHT.replace(" ", "\n  ")}})
    assert resp.status_code == 201, resp.text
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    stored = json.loads(lines[0])
    assert stored == resp.json()
    assert stored["answer_id"] == answer["id"] and stored["vote"] == "down" and stored["note"] == "not this"
    assert stored["question"] == QUESTION and stored["history"] == history
    assert stored["answer"] == answer["answer"] and stored["citations"] == answer["citations"]
    assert stored["abstained"] is False and stored["backend"] == "extractive" and stored["query"] == answer["query"]
    store = app.state.services.store
    assert stored["generation"] == store.generation() > 0
    passage = stored["passage"]
    assert passage["quote"] == RIGHT
    assert store.doc_text(passage["document_id"])[passage["start"]:passage["end"]] == RIGHT
    assert Path(passage["source"]).name == SAMPLE.name

    # a second vote on the same answer replaces the first (the file keeps both lines)
    resp = await client.post("/v1/feedback", json={"answer_id": answer["id"], "vote": "up"})
    assert resp.status_code == 201, resp.text
    records = FeedbackStore(path).records()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert [(r.answer_id, r.vote, r.passage) for r in records] == [(answer["id"], "up", None)]

    # the passage named by document id and span
    cited = answer["citations"][0]
    resp = await client.post("/v1/feedback", json={"answer_id": answer["id"], "vote": "down", "passage": {
        "document_id": cited["document_id"], "start": cited["start"], "end": cited["end"]}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["passage"]["quote"] == cited["quote"]


async def test_unknown_answer_id_is_404(make_app: Any, make_client: Any, tmp_path: Path) -> None:
    _app, client, path = await _app_and_client(make_app, make_client, tmp_path)
    resp = await client.post("/v1/feedback", json={"answer_id": "0" * 32, "vote": "up"})
    assert_error(resp, 404, "answer_not_found")
    assert not path.exists()


async def test_bad_feedback_is_422(make_app: Any, make_client: Any, tmp_path: Path) -> None:
    _app, client, path = await _app_and_client(make_app, make_client, tmp_path)
    answer_id = (await client.post("/v1/ask", json={"question": QUESTION})).json()["id"]
    for body in ({"answer_id": answer_id, "vote": "meh"}, {"answer_id": answer_id}, {"vote": "up"},
                 {"answer_id": answer_id, "vote": "up", "colour": "red"},
                 {"answer_id": answer_id, "vote": "up", "passage": {"start": -1}}):
        assert_error(await client.post("/v1/feedback", json=body), 422, "invalid_request")
    for passage in ({"quote": "The capital of Australia is Canberra, of course."}, {"quote": "too short"},
                    {"document_id": "nope", "start": 0, "end": 10}):
        resp = await client.post("/v1/feedback", json={"answer_id": answer_id, "vote": "down", "passage": passage})
        assert_error(resp, 422, "passage_not_found")
    assert not path.exists()
