"""Scale-out, run for real on loopback: a ``chroma run`` server, two API workers as separate
``assistant serve`` processes on it, and an ingest process writing while both answer.

What must hold: no 5xx while the ingest runs; a document uploaded through one worker is answerable
through the other on its next query, and a delete through the other is seen by the first (each
worker's BM25 snapshot follows the store's generation; everything else is read from Chroma).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import api_workers

pytestmark = pytest.mark.slow

FACT = ("Harbour log. The Skerryvore lighthouse is kept by Oona Baptiste, who has lived on the rock since 2019. "
        "She repaints the lantern room every spring.")
QUESTION = "Who keeps the Skerryvore lighthouse?"




def _cited(answer: dict[str, Any]) -> set[str]:
    return {c["document_id"] for c in answer["citations"]}


def test_two_workers_and_an_ingest_on_one_chroma_server(chroma_server: str, tmp_path: Path, child_env: Any,
                                                        clapnq_passages: list[tuple[str, str]]) -> None:
    collection = f"scale-{uuid.uuid4().hex[:8]}"

    def _env(chroma_server: str, collection: str, data_dir: Path) -> dict[str, str]:
        return child_env(data_dir, ASSISTANT_CHROMA__URL=chroma_server, ASSISTANT_CHROMA__COLLECTION=collection,
                         ASSISTANT_EMBEDDER__THREADS="1")

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, (title, text) in enumerate(clapnq_passages[:16]):
        (corpus / f"passage-{i:02d}.txt").write_text(f"{title}\n\n{text}")
    seed = [(f"seed-{i}.txt", f"{title}\n\n{text}".encode(), "text/plain")
            for i, (title, text) in enumerate(clapnq_passages[30:34])]
    questions = [" ".join(text.split()[:12]) + "?" for _, text in clapnq_passages[:16:4] + clapnq_passages[30:34]]
    envs = [_env(chroma_server, collection, tmp_path / f"worker{i}") for i in range(2)]

    with api_workers(envs, logs=tmp_path) as (one, two), httpx.Client(timeout=30) as client:
        seeded = client.post(f"{one}/v1/documents", files=[("files", f) for f in seed])
        assert seeded.status_code == 200, seeded.text
        # small batches: the ingest commits several times while the workers answer
        ingest = subprocess.Popen([sys.executable, "-m", "ingest", str(corpus)],
                                  env={**_env(chroma_server, collection, tmp_path / "ingester"),
                                       "ASSISTANT_INGEST__BATCH_CHUNKS": "8"},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def ask_while_ingesting(url: str) -> None:
            n = 0
            while not stop.is_set():
                r = client.post(f"{url}/v1/ask", json={"question": questions[n % len(questions)]})
                statuses[r.status_code] += 1
                n += 1
                stop.wait(0.1)  # steady asking, not a tight loop that starves the ingest of the 2 cores

        askers = [threading.Thread(target=ask_while_ingesting, args=(u,)) for u in (one, two)]
        for t in askers:
            t.start()
        try:
            out, _ = ingest.communicate(timeout=120)
        finally:
            stop.set()
            for t in askers:
                t.join(timeout=30)
        assert ingest.returncode == 0, out.decode(errors="replace")[-2000:]
        assert set(statuses) == {200} and statuses[200] >= 4, f"not only 200s during the ingest: {dict(statuses)}"

        # both workers see the ingest, and answer from it
        docs = [client.get(f"{u}/v1/documents").json() for u in (one, two)]
        assert len(docs[0]) == len(docs[1]) == 16 + len(seed)
        for url in (one, two):
            answer = client.post(f"{url}/v1/ask", json={"question": questions[0]}).json()
            assert answer["citations"], answer

        # uploaded through worker 1, answerable through worker 2 on its next query
        up = client.post(f"{one}/v1/documents", files={"files": ("skerryvore.txt", FACT.encode(), "text/plain")})
        assert up.status_code == 200, up.text
        (doc_id,) = up.json()["document_ids"]
        answer = client.post(f"{two}/v1/ask", json={"question": QUESTION}).json()
        assert doc_id in _cited(answer) and "Oona Baptiste" in answer["answer"], answer

        # deleted through worker 2, gone for worker 1 on its next query
        assert client.delete(f"{two}/v1/documents/{doc_id}").status_code == 200
        answer = client.post(f"{one}/v1/ask", json={"question": QUESTION}).json()
        assert doc_id not in _cited(answer), answer
        assert all(d["id"] != doc_id for d in client.get(f"{one}/v1/documents").json())
        assert client.delete(f"{one}/v1/documents/{doc_id}").status_code == 404
