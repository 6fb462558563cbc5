"""POST/GET/DELETE /v1/documents in process, each test on its own empty data dir."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import SAMPLE, assert_error

NOTE = b"The lighthouse keeper of Vigo painted the tower green in 1921 after a storm broke the lamp.\n"


@pytest.fixture
async def fresh(make_app: Any, make_client: Any, tmp_path: Path) -> httpx.AsyncClient:
    """A client of an app over an empty data dir (``tmp_path / "data"``)."""
    return await make_client(make_app(data_dir=tmp_path / "data", max_upload_mb=1))


async def test_upload_list_ask_delete(fresh: httpx.AsyncClient) -> None:
    resp = await fresh.post("/v1/documents", files=[("files", ("vigo.txt", NOTE, "text/plain")),
                                                    ("files", ("article.txt", SAMPLE.read_bytes(), "text/plain"))])
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["documents"]["added"] == 2 and report["failures"] == [] and len(report["document_ids"]) == 2

    listed = (await fresh.get("/v1/documents")).json()
    vigo = next(d for d in listed if d["source"].endswith("vigo.txt"))
    assert vigo["id"] in report["document_ids"] and vigo["chunks"] >= 1

    answer = (await fresh.post("/v1/ask", json={"question": "What colour did the keeper paint the tower?"})).json()
    assert "green" in answer["answer"] and answer["citations"][0]["document_id"] == vigo["id"]

    resp = await fresh.delete(f"/v1/documents/{vigo['id']}")
    assert resp.status_code == 200 and resp.json() == {"id": vigo["id"], "deleted": True, "chunks_removed": 1}
    assert vigo["id"] not in {d["id"] for d in (await fresh.get("/v1/documents")).json()}
    assert_error(await fresh.delete(f"/v1/documents/{vigo['id']}"), 404, "document_not_found")


async def test_unknown_document_id_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/v1/documents/0123456789abcdef"), 404, "document_not_found")


async def test_unsupported_type_is_415(fresh: httpx.AsyncClient) -> None:
    resp = await fresh.post("/v1/documents", files=[("files", ("tool.exe", b"MZ\x90\x00", "application/octet-stream")),
                                                    ("files", ("notes", b"text", "text/plain"))])
    assert "supported" in assert_error(resp, 415, "unsupported_format")["message"]


async def test_mixed_results_are_207_with_the_failures(fresh: httpx.AsyncClient) -> None:
    resp = await fresh.post("/v1/documents", files=[("files", ("vigo.txt", NOTE, "text/plain")),
                                                    ("files", ("tool.exe", b"MZ", "application/octet-stream"))])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["documents"]["added"] == 1 and body["documents"]["failed"] == 1
    assert [f["path"] for f in body["failures"]] == ["tool.exe"]


async def test_nothing_ingestible_is_422_with_the_report(fresh: httpx.AsyncClient) -> None:
    resp = await fresh.post("/v1/documents", files=[("files", ("empty.txt", b"", "text/plain")),
                                                    ("files", ("binary.txt", b"\x00\x01\x02" * 100, "text/plain"))])
    error = assert_error(resp, 422, "ingest_failed")
    assert {Path(f["path"]).name for f in error["details"]["failures"]} == {"empty.txt", "binary.txt"}


async def test_no_files_is_422(fresh: httpx.AsyncClient) -> None:
    assert_error(await fresh.post("/v1/documents", data={"other": "x"}), 422, "invalid_request")
    assert_error(await fresh.post("/v1/documents", json={"files": []}), 422, "invalid_request")


async def test_oversize_upload_is_413(fresh: httpx.AsyncClient, tmp_path: Path) -> None:
    two_mb = b"word " * (2 * 2**20 // 5)
    resp = await fresh.post("/v1/documents", files=[("files", ("big.txt", two_mb, "text/plain"))])
    assert "limit" in assert_error(resp, 413, "payload_too_large")["message"]
    # within the body allowance (limit + multipart overhead) but the files' bytes are over max_upload_mb
    just_over = b"word " * ((2**20 + 10_000) // 5)
    resp = await fresh.post("/v1/documents", files=[("files", ("big.txt", just_over, "text/plain"))])
    assert_error(resp, 413, "document_too_large")
    assert not (tmp_path / "data" / "uploads" / "big.txt").exists()


async def test_oversize_upload_without_content_length_is_413(fresh: httpx.AsyncClient) -> None:
    boundary = "xyzzy"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode()

    async def body() -> Any:
        yield head
        for _ in range(32):
            yield b"word " * (64 * 1024 // 5)
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = await fresh.post("/v1/documents", content=body(),
                            headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert_error(resp, 413, "payload_too_large")


@pytest.mark.slow
async def test_50_mb_upload_is_refused_before_reading(fresh: httpx.AsyncClient) -> None:
    payload = b"x" * (50 * 2**20)
    started = time.perf_counter()
    resp = await fresh.post("/v1/documents", files=[("files", ("huge.txt", payload, "text/plain"))])
    assert_error(resp, 413, "payload_too_large")
    assert time.perf_counter() - started < 5


async def test_path_tricks_in_file_names_stay_in_uploads(fresh: httpx.AsyncClient, tmp_path: Path) -> None:
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    names = ["../../etc/passwd.txt", "..\\..\\evil.txt", "/tmp/abs.txt", "....//x.txt"]
    resp = await fresh.post("/v1/documents", files=[("files", (n, NOTE + n.encode(), "text/plain")) for n in names])
    assert resp.status_code == 200, resp.text
    uploads = (tmp_path / "data" / "uploads").resolve()
    new = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()} - {p.resolve() for p in before}
    written = {p for p in new if "chroma" not in p.parts}
    assert written and all(p.parent == uploads for p in written), written
    assert {p.name for p in written} == {"passwd.txt", "evil.txt", "abs.txt", "x.txt"}
    assert not Path("/tmp/abs.txt").exists() or Path("/tmp/abs.txt").read_bytes() != NOTE + b"/tmp/abs.txt"
    for d in (await fresh.get("/v1/documents")).json():
        assert Path(d["source"]).resolve().parent == uploads


async def test_upload_is_not_read_without_the_api_key(make_app: Any, make_client: Any, tmp_path: Path) -> None:
    client = await make_client(make_app(data_dir=tmp_path / "data", api_key="k" * 16))
    resp = await client.post("/v1/documents", files=[("files", ("vigo.txt", NOTE, "text/plain"))])
    assert_error(resp, 401, "unauthorized")
    assert not (tmp_path / "data" / "uploads").exists()


async def test_chroma_down_is_503(make_app: Any, make_client: Any, tmp_path: Path, unused_port: int) -> None:
    client = await make_client(make_app(data_dir=tmp_path / "d", chroma={"url": f"http://127.0.0.1:{unused_port}"}))
    assert_error(await client.get("/v1/documents"), 503, "chroma_unavailable")
    assert_error(await client.post("/v1/documents", files=[("files", ("vigo.txt", NOTE, "text/plain"))]),
                 503, "chroma_unavailable")
    assert_error(await client.delete("/v1/documents/abc"), 503, "chroma_unavailable")


async def test_the_document_list_pages(fresh: httpx.AsyncClient) -> None:
    files = [("files", (f"note{i}.txt", f"Note {i}: the ferry to island {i} leaves at dawn.\n".encode(), "text/plain"))
             for i in range(3)]
    assert (await fresh.post("/v1/documents", files=files)).status_code == 200
    everything = await fresh.get("/v1/documents")
    assert everything.headers["x-total-count"] == "3" and len(everything.json()) == 3
    first = await fresh.get("/v1/documents", params={"limit": 2})
    rest = await fresh.get("/v1/documents", params={"offset": 2, "limit": 2})
    assert first.headers["x-total-count"] == rest.headers["x-total-count"] == "3"
    assert first.json() + rest.json() == everything.json(), "pages in the list's order, nothing lost or repeated"
    assert (await fresh.get("/v1/documents", params={"offset": 5})).json() == []
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": "many"}):
        assert_error(await fresh.get("/v1/documents", params=bad), 422, "invalid_request")
