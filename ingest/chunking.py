"""Sentence-aware chunking counted in the embedder's own word pieces, with exact character spans.

Uses llama-index's ``SentenceSplitter`` and checks every chunk against the source text, so that
``text[chunk.start:chunk.end] == chunk.text`` always holds (a quote can later be proven).

Example::

    chunker = Chunker(count_tokens=embedder.count_tokens, size=200, overlap=30)
    for text, start, end in chunker.split(document_text): ...
"""

from __future__ import annotations

from collections.abc import Callable

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode

MODEL_LIMIT = 254  # 256 word pieces minus [CLS] and [SEP]


class Chunker:
    def __init__(self, count_tokens: Callable[[str], int], size: int = 200, overlap: int = 30) -> None:
        if overlap >= size:
            raise ValueError(f"chunk overlap ({overlap}) must be smaller than chunk size ({size})")
        self.size = min(size, MODEL_LIMIT)
        self._splitter = SentenceSplitter(
            # the splitter only measures len(tokenizer(text)): a range of the right length is enough
            chunk_size=self.size, chunk_overlap=min(overlap, self.size - 1), tokenizer=lambda t: range(count_tokens(t)),
            include_metadata=False, include_prev_next_rel=False,
        )

    def split(self, text: str) -> list[tuple[str, int, int]]:
        """[(chunk_text, start, end)] with ``text[start:end] == chunk_text``."""
        nodes = self._splitter.get_nodes_from_documents([Document(text=text)])
        out: list[tuple[str, int, int]] = []
        cursor = 0
        for node in nodes:
            chunk = node.get_content()
            start = node.start_char_idx if isinstance(node, TextNode) else None  # the splitter makes TextNodes
            if start is None or text[start : start + len(chunk)] != chunk:
                start = text.find(chunk, max(0, cursor - len(chunk)))
                if start < 0:
                    start = text.find(chunk)
            if start < 0:  # the splitter normalised whitespace; fall back to a span we can prove
                continue
            out.append((chunk, start, start + len(chunk)))
            cursor = start + len(chunk)
        return out
