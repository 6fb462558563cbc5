"""The composition root: ``Services(settings)`` is the only place that builds components.

The CLI, the REST app, the UI and the evals all take a ``Services`` and call the same objects.
Each component receives exactly the collaborators it uses; tests and evals swap in their own by
passing them here (``Services(settings, embedder=..., store=..., llm=...)``), never by patching.

Connections are made lazily: a Chroma server that is down makes requests fail with
``StoreUnavailable`` (503) instead of stopping the app from starting, and the next request retries
(a ``cached_property`` caches only a successful build).

Example::

    services = Services(Settings())
    services.ingestor.ingest([Path("docs/")])
    answer = services.engine.ask("What did South Korea do in response?")
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from assistant.abstain import AbstentionModel
from assistant.engine import AnswerEngine
from assistant.evidence import EvidenceSelector
from assistant.feedback import FeedbackService, FeedbackStore, RecentAnswers
from assistant.llm import LLM, build_llm
from assistant.retrieval import HybridRetriever
from assistant.settings import Settings
from assistant.verify import GroundingVerifier
from ingest.embedder import Embedder, build_embedder
from ingest.pipeline import IngestService
from ingest.store import ChromaStore
from ingest.watch import FolderWatcher, LogLine


class Services:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, store: ChromaStore | None = None,
                 llm: LLM | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store = store
        self._llm = llm
        self._lock = threading.Lock()
        self.recent_answers = RecentAnswers(settings.feedback.recent_answers)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings.embedder, self.settings.cpu_threads)
            return self._embedder

    @property
    def store(self) -> ChromaStore:
        """The Chroma store, connected on first use (and retried after a failure)."""
        with self._lock:
            if self._store is None:
                self._store = ChromaStore.connect(self.settings.chroma, self.settings.chroma_path)
            return self._store

    @property
    def llm(self) -> LLM | None:
        """The generator for ``settings.llm.backend`` (None for the extractive backend)."""
        with self._lock:
            if self._llm is None:
                self._llm = build_llm(self.settings)
            return self._llm

    @cached_property
    def ingestor(self) -> IngestService:
        s = self.settings
        return IngestService(self.store, self.embedder, s.chunk, s.ingest, uploads_dir=s.uploads_dir)

    @cached_property
    def engine(self) -> AnswerEngine:
        s, embedder, store = self.settings, self.embedder, self.store
        selector = EvidenceSelector(embedder)
        return AnswerEngine(
            embedder=embedder, store=store,
            retriever=HybridRetriever(store, embedder, s.retrieval),
            selector=selector,
            verifier=GroundingVerifier(selector.text_vectors),
            abstention=AbstentionModel.load(s.retrieval.abstain_threshold),
            llm=self.llm, evidence_k=s.retrieval.evidence_k, max_tokens=s.llm.max_tokens,
            max_question_chars=s.max_question_chars, llm_timeout_s=s.llm.timeout_s,
            on_answer=self.recent_answers.remember,
        )

    @cached_property
    def feedback(self) -> FeedbackService:
        return FeedbackService(self.recent_answers, FeedbackStore(self.settings.feedback_path), self.store)

    def folder_watcher(self, paths: list[Path], emit: LogLine | None = None) -> FolderWatcher:
        """A watcher that keeps the index in sync with ``paths`` (folders); see ``ingest.watch``."""
        return FolderWatcher(self.ingestor, paths, debounce_ms=self.settings.watch.debounce_ms, emit=emit)

