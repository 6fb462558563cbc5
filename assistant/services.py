"""The composition root: ``build_services(settings)`` wires every component once.

The CLI, the REST app, the UI and the evals all take a ``Services`` and call the same objects.
Connections are made lazily, so a Chroma server that is down makes requests fail with
``StoreUnavailable`` (503) instead of stopping the app from starting.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.engine import AnswerEngine
    from assistant.llm.base import LLM
    from ingest.pipeline import IngestService
    from ingest.store import ChromaStore


class Services:
    def __init__(self, settings: Settings, *, llm: LLM | None = None) -> None:
        self.settings = settings
        self._llm = llm
        self._store: ChromaStore | None = None
        self._lock = threading.Lock()

    @cached_property
    def embedder(self):  # noqa: ANN201 - MiniLMEmbedding | OpenAICompatibleEmbedding
        from ingest.embedder import build_embedder

        return build_embedder(self.settings)

    @property
    def store(self) -> ChromaStore:
        """The Chroma store, connected on first use (and retried after a failure)."""
        with self._lock:
            if self._store is None:
                from ingest.store import ChromaStore

                self._store = ChromaStore.from_settings(self.settings)
            return self._store

    @property
    def ingestor(self) -> IngestService:
        from ingest.pipeline import IngestService

        return IngestService(self.store, self.embedder, self.settings)

    @property
    def llm(self) -> LLM | None:
        """The generator for ``settings.llm.backend`` (None for the extractive backend)."""
        with self._lock:
            if self._llm is None and self.settings.llm.backend != "extractive":
                from assistant.llm import build_llm

                self._llm = build_llm(self.settings)
            return self._llm

    @cached_property
    def engine(self) -> AnswerEngine:
        from assistant.engine import AnswerEngine

        return AnswerEngine(self)


def build_services(settings: Settings | None = None, *, llm: LLM | None = None) -> Services:
    return Services(settings or Settings(), llm=llm)
