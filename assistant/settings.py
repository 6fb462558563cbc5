"""One typed settings object, built once at the edge (CLI, server) and passed in.

Every field reads from an ``ASSISTANT_*`` environment variable; nested fields use ``__``
(``ASSISTANT_LLM__BACKEND=extractive``, ``ASSISTANT_CHROMA__URL=http://127.0.0.1:8000``).
Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChromaSettings(BaseModel):
    url: str = Field("", description="Chroma server URL; empty = embedded PersistentClient under data_dir")
    collection: str = Field("documents", description="Collection name prefix")
    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for a Chroma server")

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, v: str) -> str:
        v = v.strip()
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(f"chroma.url must start with http:// or https://, got {v!r}")
        return v.rstrip("/")


def _openai_needs_url(section: str, backend: str, base_url: str) -> None:
    """One rule for every OpenAI-compatible client: ``backend=openai`` needs a ``base_url``."""
    if backend == "openai" and not base_url:
        raise ValueError(f"{section}.backend=openai needs {section}.base_url "
                         f"(ASSISTANT_{section.upper()}__BASE_URL)")


class EmbedderSettings(BaseModel):
    backend: Literal["minilm", "openai"] = "minilm"
    batch_size: int = Field(32, ge=1, le=1024)
    threads: int = Field(0, ge=0, description="Cores for embedding chunks: that many single-threaded ONNX sessions "
                                               "side by side (at most 4; beyond, each gets several threads); "
                                               "0 = number of cores")
    base_url: str = Field("", description="OpenAI-compatible embeddings endpoint (backend=openai)")
    model: str = "text-embedding-3-small"
    api_key: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _openai_needs_url(self) -> EmbedderSettings:
        _openai_needs_url("embedder", self.backend, self.base_url)
        return self


class ChunkSettings(BaseModel):
    size: int = Field(200, ge=32, le=256, description="Chunk size in the embedder's word-piece tokens")
    overlap: int = Field(30, ge=0, description="Overlap between chunks, in tokens")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkSettings:
        if self.overlap >= self.size:
            raise ValueError(f"chunk.overlap ({self.overlap}) must be smaller than chunk.size ({self.size})")
        return self


class IngestSettings(BaseModel):
    max_file_mb: float = Field(25.0, gt=0, description="Files above this size are refused")
    batch_chunks: int = Field(512, ge=1, description="Chunks embedded (sorted by length) and committed together; "
                              "the first and last batch of a run hold an eighth of that")
    sentence_vectors: Literal["late", "separate", "off"] = Field(
        "late", description="Sentence vectors stored for evidence selection: pooled from the chunk's own forward "
                            "pass (late), embedded one by one (separate), or none (embedded at query time)")
    max_pages: int = Field(2000, ge=1, description="PDFs with more pages are refused")
    max_unzipped_mb: float = Field(100.0, gt=0, description="DOCX files unpacking to more are refused (zip bombs)")
    max_chars: int = Field(2_000_000, ge=1000, description="Documents with more extracted text are refused")


class LLMSettings(BaseModel):
    # extractive by default: on the dev sets it beats the bundled 1.5B model on required facts and support
    backend: Literal["local", "openai", "extractive", "fake"] = "extractive"
    model_path: str = Field("", description="A GGUF file; empty = the bundled Qwen2.5-Coder-1.5B (sha256-checked)")
    context_window: int = Field(4096, ge=512)
    max_tokens: int = Field(256, ge=16)
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy: reproducible answers")
    threads: int = Field(0, ge=0, description="0 = number of cores")
    timeout_s: float = Field(120.0, gt=0, description="Per-answer generation budget before the extractive fallback")
    max_parallel: int = Field(0, ge=0, le=64, description="Answers the API generates at once; 0 = auto: 1 for "
                                                          "backend=local, no limit for the others")
    max_queue: int = Field(4, ge=0, le=1000,
                           description="API answers waiting for the LLM; one more gets 429 with Retry-After")
    base_url: str = Field("", description="OpenAI-compatible server (backend=openai), e.g. http://127.0.0.1:8001/v1")
    model: str = Field("", description="Model name for backend=openai")
    api_key: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _openai_needs_url(self) -> LLMSettings:
        _openai_needs_url("llm", self.backend, self.base_url)
        return self


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved per question")
    candidates: int = Field(30, ge=1, le=500, description="Dense and BM25 candidates before fusion")
    bm25_weight: float = Field(0.15, ge=0, le=5, description="Weight of BM25 in the fused score (dense = 1)")
    evidence_k: int = Field(3, ge=1, le=12, description="Evidence passages given to the LLM")
    abstain_threshold: float | None = Field(
        None, ge=0, le=1,
        description="Override the abstention model's threshold (the probability that the passages answer, below "
                    "which the assistant abstains); empty = the calibrated one in assistant/abstention.json",
    )


class WatchSettings(BaseModel):
    debounce_ms: int = Field(
        500, ge=10, le=60_000,
        description="`--watch`: apply a batch of file changes once no new change arrived for this long "
                    "(and at the latest 10x this long after the first)",
    )


class FeedbackSettings(BaseModel):
    path: Path | None = Field(None, description="The feedback JSONL file; empty = data_dir/feedback.jsonl")
    recent_answers: int = Field(
        1000, ge=1, le=1_000_000,
        description="Answers remembered (per process) so that feedback can name them by id alone",
    )


class Settings(BaseSettings):
    """All configuration. Build with ``Settings()`` (reads the environment) or pass values directly."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", env_nested_delimiter="__", env_file=None, extra="ignore"
    )

    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "var", description="Index, uploads, model cache")
    chroma: ChromaSettings = ChromaSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    chunk: ChunkSettings = ChunkSettings()
    ingest: IngestSettings = IngestSettings()
    llm: LLMSettings = LLMSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    watch: WatchSettings = WatchSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    api_key: SecretStr = Field(SecretStr(""), description="When set, /v1 requires Authorization: Bearer <key> and the UI a sign-in with it")
    ui_session_hours: float = Field(12.0, gt=0, le=24 * 30,
                                    description="How long a UI sign-in (with api_key) lasts")
    cors_origins: list[str] = Field(default_factory=list)
    max_question_chars: int = Field(2000, ge=10)
    max_upload_mb: float = Field(20.0, gt=0)

    @field_validator("api_key")
    @classmethod
    def _key_strength(cls, v: SecretStr) -> SecretStr:
        raw = v.get_secret_value()
        if raw and len(raw) < 12:
            raise ValueError("api_key must be at least 12 characters (or empty to turn auth off)")
        return v

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def feedback_path(self) -> Path:
        return self.feedback.path or self.data_dir / "feedback.jsonl"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def cpu_threads(self) -> int:
        return os.cpu_count() or 2
