"""assistant/bm25.py: the incremental BM25 index against a full rebuild and against ``bm25s``."""

from __future__ import annotations

import random

import numpy as np
import pytest

from assistant.bm25 import EMPTY, BM25Index
from assistant.text import content_terms

WORDS = [f"w{i}" for i in range(200)]


def _doc(rng: random.Random, name: str) -> list[tuple[str, list[str]]]:
    return [(f"{name}:v:{n}", rng.choices(WORDS, k=rng.randint(0, 25))) for n in range(rng.randint(1, 4))]


@pytest.fixture
def corpus() -> dict[str, list[tuple[str, list[str]]]]:
    rng = random.Random(7)
    return {f"d{i:02d}": _doc(rng, f"d{i:02d}") for i in range(40)}


def test_updates_equal_a_full_rebuild(corpus: dict) -> None:
    """Add, replace and remove step by step: scores, ranking and statistics are those of a fresh build."""
    rng = random.Random(8)
    names = sorted(corpus)
    index = BM25Index.build({d: corpus[d] for d in names[:20]}, shards=5)
    index = index.update(added={d: corpus[d] for d in names[20:]})  # added
    final = dict(corpus)
    final["d03"] = _doc(rng, "d03-new")  # replaced
    final["x99"] = _doc(rng, "x99")
    del final["d07"], final["d31"]  # removed
    index = index.update(added={"d03": final["d03"], "x99": final["x99"]}, removed=["d07", "d31", "unknown"])
    fresh = BM25Index.build(final, shards=5)
    assert (index.n_chunks, index.n_tokens) == (fresh.n_chunks, fresh.n_tokens)
    for _ in range(30):
        query = rng.choices(WORDS, k=rng.randint(1, 5))
        assert index.top(query, 15) == fresh.top(query, 15)
        assert all(index.doc_freq(t) == fresh.doc_freq(t) for t in query)
    assert not any(cid.startswith(("d07:", "d31:", "d03:v")) for _, cid in index.top(WORDS, 500))


def test_update_leaves_the_old_index_untouched(corpus: dict) -> None:
    before = BM25Index.build(corpus, shards=3)
    ranking = before.top(WORDS[:5], 10)
    before.update(added={"new": [("new:v:0", WORDS[:5] * 3)]}, removed=["d00", "d01"])
    assert before.top(WORDS[:5], 10) == ranking


def test_scores_are_those_of_bm25s(corpus: dict) -> None:
    bm25s = pytest.importorskip("bm25s")
    ids = [cid for d in sorted(corpus) for cid, _ in corpus[d]]
    tokens = [list(toks) or [EMPTY] for d in sorted(corpus) for _, toks in corpus[d]]
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    index = BM25Index.build(corpus, shards=4)
    for query in (["w1"], ["w3", "w3", "w40"], ["w5", "w77", "w150", "absent"]):
        scores = reference.get_scores([t for t in query if t != "absent"])
        expected = {ids[i]: float(s) for i, s in enumerate(scores) if s > 0}
        got = dict((cid, s) for s, cid in index.top(query, len(ids)))
        assert got.keys() == expected.keys()
        assert np.allclose([got[k] for k in expected], list(expected.values()), rtol=1e-5)


def test_document_filter_and_empty_queries(corpus: dict) -> None:
    index = BM25Index.build(corpus, shards=4)
    hits = index.top(WORDS, 50, documents={"d02", "d05"})
    assert hits and {cid.split(":")[0] for _, cid in hits} <= {"d02", "d05"}
    assert index.top([], 5) == [] and index.top(["absent"], 5) == []
    assert BM25Index.build({}).top(["w1"], 5) == []
    with pytest.raises(ValueError, match="shards must be at least 1"):
        BM25Index.build(corpus, shards=0)


def test_real_text_terms() -> None:
    docs = {"a": [("a:v:0", content_terms("The zebrafish project started in Lisbon."))],
            "b": [("b:v:0", content_terms("Quarterly revenue grew by 14 percent."))]}
    index = BM25Index.build(docs)
    assert index.top(content_terms("zebrafish in Lisbon"), 5)[0][1] == "a:v:0"


def test_shards_follow_the_corpus_size() -> None:
    from assistant.bm25 import SHARD_CHUNKS

    small = BM25Index.build({"d": [("d:v:0", ["w1"])]})
    assert len(small.shards) == 1 and not small.wants_reshard
    added = {f"g{i}": [(f"g{i}:v:{n}", ["w2"] * (1 + n % 3)) for n in range(100)]
             for i in range(2 * SHARD_CHUNKS // 100 + 1)}
    grown = small.update(added=added)
    assert grown.wants_reshard, "past twice its shards' size: the retriever rebuilds it with more shards"
    rebuilt = BM25Index.build({"d": [("d:v:0", ["w1"])], **added})
    assert len(rebuilt.shards) == 3 and not rebuilt.wants_reshard
    assert rebuilt.top(["w2", "w1"], 5) == grown.top(["w2", "w1"], 5)
