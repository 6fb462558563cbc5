"""Shared fixtures for every test package.

* An autouse network guard: a test that opens a non-loopback connection fails (nothing here may
  touch the network; loopback servers such as ``chroma run`` and uvicorn are fine).
* ``settings`` (isolated ``data_dir`` under ``tmp_path``, extractive LLM) -> ``services``, which
  reuses one session-wide MiniLM embedder (loading it is cheap, but not free).
* ``sample_index`` (session): the sample article ingested once, for tests that only read;
  ``sample_settings`` points at it; ``sample_copy`` / ``copy_sample_index`` copy it for tests that write.
* ``chroma_server``: a real ``chroma run`` on loopback for the Chroma server mode.

Subfolders add their own ``conftest.py`` for package-specific fixtures.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chroma_proc import ChromaProcess
from servers import free_port

from assistant.services import Services
from assistant.settings import Settings
from ingest.embedder import MiniLMEmbedding

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "data" / "sample" / "north-korean-troops-in-ukraine.txt"


# -- network guard -------------------------------------------------------------------------------

class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]")
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost: would need DNS, i.e. the network


def _check(sock: socket.socket | None, address: Any) -> None:
    if sock is not None and getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
        return
    if isinstance(address, (str, bytes)):  # an AF_UNIX path passed without a socket object
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        raise NetworkBlocked(f"test tried to open a network connection to {address!r}; only loopback is allowed")


@pytest.fixture(autouse=True)
def _network_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects anywhere but 127.0.0.0/8, ::1, localhost or an AF_UNIX socket."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection

    def connect(self: socket.socket, address: Any) -> Any:
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        _check(self, address)
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kw: Any) -> socket.socket:
        _check(None, address)
        return real_create_connection(address, *args, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)


# -- settings and services -----------------------------------------------------------------------

@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm={"backend": "extractive"})


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedding:
    """One MiniLM embedder for the whole session (read-only, thread-safe)."""
    return MiniLMEmbedding(batch_size=32, threads=2)


@pytest.fixture
def make_services(embedder: MiniLMEmbedding) -> Callable[..., Services]:
    """``make_services(settings, llm=...)``: more ``Services`` sharing the session embedder."""
    return lambda settings, **kw: Services(settings, embedder=embedder, **kw)


@pytest.fixture
def services(settings: Settings, embedder: MiniLMEmbedding) -> Services:
    return Services(settings, embedder=embedder)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedding) -> Path:
    """A data dir with the sample article ingested once per session. Read-only: a test that ingests,
    deletes or votes makes its own (``settings`` / ``services``)."""
    data_dir = tmp_path_factory.mktemp("sample-index") / "data"
    report = Services(Settings(data_dir=data_dir, llm={"backend": "extractive"}), embedder=embedder).ingestor.ingest(
        [SAMPLE])
    assert report.ok and report.documents["added"] == 1, report
    return data_dir


@pytest.fixture(scope="session")
def copy_sample_index(sample_index: Path) -> Callable[[Path], Path]:
    """``copy_sample_index(data_dir)``: ``data_dir`` made a private copy of ``sample_index`` (the
    embedded index has no write in flight between tests), for fixtures that write to it."""
    def copy(data_dir: Path) -> Path:
        shutil.copytree(sample_index, data_dir)
        return data_dir

    return copy


@pytest.fixture
def sample_copy(copy_sample_index: Callable[[Path], Path], settings: Settings) -> Settings:
    """``settings`` whose data dir (the ``cli_env`` one too) starts as a private copy of ``sample_index``:
    for tests that write, or whose child processes open the index."""
    copy_sample_index(settings.data_dir)
    return settings


@pytest.fixture
def sample_settings(sample_index: Path) -> Settings:
    """``Settings`` over the shared ``sample_index`` (extractive LLM); change ``llm`` freely, never the index."""
    return Settings(data_dir=sample_index, llm={"backend": "extractive"})


# -- subprocess helpers --------------------------------------------------------------------------

def subprocess_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for running ``assistant``/``python -m ingest`` in a child process:
    the parent's, minus any ``ASSISTANT_*``, plus an isolated data dir and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({
        "ASSISTANT_DATA_DIR": str(data_dir),
        "ASSISTANT_LLM__BACKEND": "extractive",
        "PYTHONUNBUFFERED": "1",
        "ANONYMIZED_TELEMETRY": "False",
    })
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def child_env() -> Callable[..., dict[str, str]]:
    """``child_env(data_dir, **extra)``: ``subprocess_env`` for tests that start several processes."""
    return subprocess_env


@pytest.fixture
def cli_env(tmp_path: Path) -> Any:
    """``cli_env(**extra)``: a child-process environment whose data dir is ``tmp_path / "data"``
    (the same as the ``settings`` fixture's, so a test can inspect what the child wrote)."""
    return lambda **extra: subprocess_env(tmp_path / "data", **extra)


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening (at the time of asking)."""
    return free_port()


# -- a real Chroma server ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` on 127.0.0.1 for the session; yields its URL (``http://127.0.0.1:PORT``)."""
    with ChromaProcess(tmp_path_factory.mktemp("chroma-server")) as chroma:
        yield chroma.url


# -- real documents of each format ---------------------------------------------------------------

def _make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    """A real PDF with one text line per page (matplotlib embeds real, extractable text)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    with PdfPages(path) as pdf:
        for text in pages:
            fig = Figure(figsize=(8.5, 11))
            fig.text(0.05, 0.9, text, fontsize=9)
            pdf.savefig(fig)
        if title:
            pdf.infodict()["Title"] = title
    return path


def _make_docx(path: Path, paragraphs: list[str], title: str = "", table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    if title:
        document.core_properties.title = title
    document.save(str(path))
    return path


@pytest.fixture(scope="session")
def make_pdf() -> Any:
    """``make_pdf(path, ["page 1 text", "page 2 text"], title="")`` writes a real PDF."""
    return _make_pdf


@pytest.fixture(scope="session")
def make_docx() -> Any:
    """``make_docx(path, ["paragraph", ...], title="", table=[[...], ...])`` writes a real DOCX."""
    return _make_docx


# -- shared data ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def clapnq_passages() -> list[tuple[str, str]]:
    """(title, text) of the 300 answerable CLAP NQ dev passages (the copy shipped in evals/data)."""
    from evals.clapnq import load_clapnq

    return [(item.title, item.passage) for item in load_clapnq() if item.answerable]


# -- index invariants ----------------------------------------------------------------------------

def check_index(store: Any) -> dict[str, Any]:
    """Assert the invariants every finished ingest run must leave behind, and return the ledger.

    No orphan chunks (every chunk's ``(doc_id, version)`` is a committed document's), each document
    has exactly the number of chunks its ledger record says, no duplicate chunk ids or spans, and
    every chunk's text is ``doc_text[start:end]``; no sentence vector of an uncommitted version.
    """
    ledger = store.docs()
    chunks = store.all_chunks()
    ids = [cid for cid, _, _ in chunks]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    per_doc: dict[str, int] = {}
    spans: set[tuple[str, int, int]] = set()
    texts = store.doc_texts(ledger)
    for cid, meta, text in chunks:
        doc = ledger.get(meta["doc_id"])
        assert doc is not None, f"orphan chunk {cid}: no committed document {meta['doc_id']}"
        assert meta["version"] == doc.version, f"orphan chunk {cid}: version {meta['version']} != {doc.version}"
        span = (meta["doc_id"], meta["start"], meta["end"])
        assert span not in spans, f"duplicate chunk span {span}"
        spans.add(span)
        assert texts[meta["doc_id"]][meta["start"]:meta["end"]] == text, f"chunk {cid} is not doc_text[start:end]"
        per_doc[meta["doc_id"]] = per_doc.get(meta["doc_id"], 0) + 1
    for doc_id, doc in ledger.items():
        assert per_doc.get(doc_id, 0) == doc.chunks, f"{doc.source}: {per_doc.get(doc_id, 0)} chunks, ledger says {doc.chunks}"
    sentences = store.sentences.get(include=["metadatas"])
    named: set[str] = set()
    for rid, meta in zip(sentences["ids"], sentences["metadatas"], strict=True):
        if meta is None:  # a vector: named by its version's list (checked below)
            continue
        doc = ledger.get(meta["doc_id"])
        assert doc is not None and meta["version"] == doc.version, f"orphan sentence record {rid}: {meta}"
        if "spans" in meta:
            named |= {f"{meta['doc_id']}:{meta['version']}:{span.replace('-', ':')}" for span in meta["spans"].split(",")}
    unnamed = [rid for rid, meta in zip(sentences["ids"], sentences["metadatas"], strict=True)
               if meta is None and rid not in named]
    assert not unnamed, f"sentence vectors no list names (a delete or sweep would miss them): {unnamed[:5]}"
    return ledger


@pytest.fixture(scope="session")
def index_invariants() -> Any:
    """``index_invariants(store)``: assert no orphan/duplicate chunks and exact spans; returns the ledger."""
    return check_index


@pytest.fixture(scope="session")
def local_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF assembled from its parts and sha256-verified once per session (~6 s, 1.1 GB)."""
    from assistant.llm.model_file import resolve_model_path

    return resolve_model_path(Settings(data_dir=tmp_path_factory.mktemp("model")))
