"""ui.scope and the viewer's link targets: which documents a session's scope asks."""

from __future__ import annotations

import pytest

from assistant.schema import DocumentInfo
from ui.render import parse_cite
from ui.scope import matches_prefix, resolve


def _doc(doc_id: str, source: str) -> DocumentInfo:
    return DocumentInfo(id=doc_id, source=source, title="", chunks=1, version="v", ingested_at="")


@pytest.mark.parametrize(("prefix", "source", "expected"), [
    ("reports/2024", "/home/me/reports/2024/q3.pdf", True),
    ("/home/me/reports", "/home/me/reports/2024/q3.pdf", True),
    ("north-", "/srv/uploads/north-korean-troops.txt", True),
    ("2024/q", "/home/me/reports/2024/q3.pdf", True),
    ("eports", "/home/me/reports/2024/q3.pdf", False),  # a prefix starts at a path component
    ("q4", "/home/me/reports/2024/q3.pdf", False),
    ("  ", "/a/b.txt", False),
])
def test_prefix_matches_from_a_path_component_on(prefix: str, source: str, expected: bool) -> None:
    assert matches_prefix(source, prefix) is expected


def test_scope_is_picked_ids_plus_prefix_matches_or_everything() -> None:
    docs = [_doc("a", "/r/2024/a.txt"), _doc("b", "/r/2025/b.txt"), _doc("c", "/notes/c.md")]
    assert resolve(docs, {"ids": [], "prefix": ""}) is None and resolve(docs, None) is None
    assert [d.id for d in resolve(docs, {"ids": ["c"], "prefix": "r/2024"}) or []] == ["a", "c"]
    assert resolve(docs, {"ids": ["gone"], "prefix": ""}) == []


def test_citation_link_targets() -> None:
    assert parse_cite("#cite:7c13dbb0ce6aad77:1958:2287") == ("7c13dbb0ce6aad77", 1958, 2287)
    for bad in (None, "", "#cite:x:1", "#cite:x:-1:3", "#cite:a/b:1:2", "javascript:alert(1)"):
        assert parse_cite(bad) is None
