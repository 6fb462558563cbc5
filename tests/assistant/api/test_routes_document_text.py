"""GET /v1/documents/{id} and GET /v1/documents/{id}/text (the source viewer's API), and the
``document_ids`` scope of POST /v1/chat/completions, in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import QUESTION, SAMPLE, assert_error

KEY = "a-long-test-secret-key"
VIGO = b"The lighthouse keeper of Vigo painted the tower green in 1921 after a storm broke the lamp.\n"


async def _sample_id(client: httpx.AsyncClient) -> str:
    return str((await client.get("/v1/documents")).json()[0]["id"])


async def test_document_metadata_and_unknown_ids(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/documents")).json()
    resp = await client.get(f"/v1/documents/{listed[0]['id']}")
    assert resp.status_code == 200 and resp.json() == listed[0]
    assert resp.json()["pages"] == 0  # a .txt has no pages
    assert_error(await client.get("/v1/documents/0123456789abcdef"), 404, "document_not_found")
    assert_error(await client.get("/v1/documents/0123456789abcdef/text?start=0&end=5"), 404, "document_not_found")
    assert_error(await client.get("/v1/documents/__generation__"), 404, "document_not_found")


async def test_text_slice_is_the_cited_quote_with_whole_neighbouring_paragraphs(client: httpx.AsyncClient) -> None:
    doc_id = await _sample_id(client)
    full = SAMPLE.read_text(encoding="utf-8").strip()
    whole = (await client.get(f"/v1/documents/{doc_id}/text", params={"start": 0, "end": len(full), "context": 0}))
    assert whole.json()["quote"] == full and whole.json()["chars"] == len(full)

    citation = (await client.post("/v1/ask", json={"question": QUESTION})).json()["citations"][0]
    start, end = citation["start"], citation["end"]
    resp = await client.get(f"/v1/documents/{doc_id}/text", params={"start": start, "end": end, "context": 800})
    assert resp.status_code == 200, resp.text
    p = resp.json()
    assert p["quote"] == full[start:end] == citation["quote"]
    assert p["text"] == full[p["context_start"]:p["context_end"]]
    assert p["context_start"] <= start - 1 and p["context_end"] >= end + 1  # some context on both sides
    assert start - p["context_start"] <= 800 and p["context_end"] - end <= 800
    # cut at paragraph boundaries: whole paragraphs, not mid-sentence
    assert p["context_start"] == 0 or full[p["context_start"] - 2:p["context_start"]] == "\n\n"
    assert p["context_end"] == len(full) or full[p["context_end"]:p["context_end"] + 2] == "\n\n"
    assert p["page"] is None and p["page_text"] is None
    assert (p["document_id"], p["source"]) == (doc_id, citation["source"])


@pytest.mark.parametrize(("params", "code"), [
    ({"start": -1, "end": 5}, "invalid_range"),
    ({"start": 10, "end": 5}, "invalid_range"),
    ({"start": 0, "end": 5, "context": -1}, "invalid_range"),
    ({"start": 0, "end": 5, "context": 10**6}, "invalid_range"),
    ({"start": 0, "end": 10**7}, "range_out_of_bounds"),
    ({"start": "abc"}, "invalid_request"),
])
async def test_bad_ranges_are_422(client: httpx.AsyncClient, params: dict[str, Any], code: str) -> None:
    doc_id = await _sample_id(client)
    assert_error(await client.get(f"/v1/documents/{doc_id}/text", params=params), 422, code)


async def test_pdf_passage_has_its_page_and_the_page_text(make_app: Any, make_client: Any, make_pdf: Any,
                                                          tmp_path: Path) -> None:
    pages = ["Penguins nest on the Antarctic coast in winter.",
             "Emperor penguins huddle together to survive the cold.\n\nThe males keep the eggs warm.",
             "Krill is their main food."]
    pdf = make_pdf(tmp_path / "polar.pdf", pages)
    client = await make_client(make_app(data_dir=tmp_path / "data"))
    resp = await client.post("/v1/documents", files=[("files", ("polar.pdf", pdf.read_bytes(), "application/pdf"))])
    doc_id = resp.json()["document_ids"][0]
    info = (await client.get(f"/v1/documents/{doc_id}")).json()
    assert info["pages"] == 3

    full = (await client.get(f"/v1/documents/{doc_id}/text", params={"end": info["chars"], "context": 0})).json()
    start = full["quote"].index("The males")
    p = (await client.get(f"/v1/documents/{doc_id}/text", params={"start": start, "end": start + 9})).json()
    assert p["quote"] == "The males" and p["page"] == 2
    assert "Emperor penguins" in p["page_text"] and "Krill" not in p["page_text"]
    assert p["page_text"] == full["quote"][p["page_start"]:p["page_end"]]


async def test_viewer_routes_need_the_api_key(make_app: Any, make_client: Any) -> None:
    client = await make_client(make_app(api_key=KEY))
    assert_error(await client.get("/v1/documents/0123456789abcdef/text"), 401, "unauthorized")
    authed = await make_client(make_app(api_key=KEY), headers={"Authorization": f"Bearer {KEY}"})
    doc_id = (await authed.get("/v1/documents")).json()[0]["id"]
    assert (await authed.get(f"/v1/documents/{doc_id}/text?start=0&end=10")).status_code == 200


async def test_chat_completions_answer_only_from_document_ids(make_app: Any, make_client: Any, tmp_path: Path) -> None:
    client = await make_client(make_app(data_dir=tmp_path / "data"))
    resp = await client.post("/v1/documents", files=[("files", ("vigo.txt", VIGO, "text/plain")),
                                                     ("files", ("article.txt", SAMPLE.read_bytes(), "text/plain"))])
    ids = {Path(d["source"]).name: d["id"] for d in (await client.get("/v1/documents")).json()}
    assert resp.status_code == 200 and len(ids) == 2
    keeper = [{"role": "user", "content": "What colour did the keeper paint the tower?"}]
    korea = [{"role": "user", "content": QUESTION}]

    async def cited(messages: list[dict[str, str]], scope: str) -> set[str]:
        resp = await client.post("/v1/chat/completions", json={"messages": messages, "document_ids": [ids[scope]]})
        assert resp.status_code == 200, resp.text
        return {c["document_id"] for c in resp.json()["citations"]}

    assert await cited(keeper, "vigo.txt") == {ids["vigo.txt"]}
    assert await cited(korea, "article.txt") == {ids["article.txt"]}
    assert await cited(keeper, "article.txt") <= {ids["article.txt"]}  # abstains or cites the article only
    assert await cited(korea, "vigo.txt") <= {ids["vigo.txt"]}
    messages = korea
    streamed = await client.post("/v1/chat/completions",
                                 json={"messages": korea, "document_ids": [ids["vigo.txt"]], "stream": True})
    last = [json.loads(line[6:]) for line in streamed.text.splitlines()
            if line.startswith("data: {") and '"citations"' in line][-1]
    assert {c["document_id"] for c in last["citations"]} <= {ids["vigo.txt"]}
    too_many = {"messages": messages, "document_ids": [f"id{i}" for i in range(101)]}
    assert "document_ids" in assert_error(await client.post("/v1/chat/completions", json=too_many),
                                          422, "invalid_request")["message"]
