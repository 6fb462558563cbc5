"""ingest/embedder.py: the bundled MiniLM's two ONNX sessions give the same vectors."""

from __future__ import annotations

import numpy as np

from ingest.embedder import SMALL_RUN_TOKENS, MiniLMEmbedding

QUESTIONS = ["What did South Korea do in response?", "who sang the song the way you make me feel",
             "How many North Korean soldiers are in Ukraine?", "when was the first world cup held"]


def test_questions_embed_bit_for_bit_as_in_the_threaded_session(embedder: MiniLMEmbedding) -> None:
    """A question runs on the single-threaded session (no lock, one core); its vector is exactly the one the
    threaded session (chunks at ingest) computes, so answers do not depend on which session ran."""
    for question in QUESTIONS:
        ids = np.asarray([embedder._tokenizer.encode(question).ids], dtype=np.int64)
        assert ids.size <= SMALL_RUN_TOKENS
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        small = embedder._small.run(None, feed)[0]
        threaded = embedder._session.run(None, feed)[0]
        assert embedder._small is not embedder._session
        assert np.array_equal(small, threaded)
    one_by_one = np.stack([embedder.embed([q])[0] for q in QUESTIONS])  # the single-threaded session
    batch = embedder.embed(QUESTIONS * 3)[:4]  # one run over SMALL_RUN_TOKENS: the threaded session
    assert np.allclose(one_by_one, batch, atol=1e-6)  # padding to the batch's width may move the last bits
