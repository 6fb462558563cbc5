"""Fixtures for the REST API tests: real Services (real MiniLM embedder, real embedded Chroma) on a
temporary data dir with the sample article ingested, the app over them, and an in-process client.

* ``index_dir`` (session): the shared ``sample_index`` of ``tests/conftest.py``; read-only tests share it.
* ``make_app(llm=None, data_dir=None, **settings)``: ``create_app(Services(...), ui=False)``.
* ``client`` / ``make_client(app)``: ``httpx.AsyncClient`` over ``httpx.ASGITransport``.
* ``serve(app)``: a real uvicorn server on a free loopback port, in a background thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import build_services
from fastapi import FastAPI
from servers import serve_in_thread

from assistant.api.app import create_app


@pytest.fixture(scope="session")
def index_dir(sample_index: Path) -> Path:
    """The session's ``sample_index`` (tests/conftest.py): read-only."""
    return sample_index


@pytest.fixture
def make_app(embedder: Any, index_dir: Path) -> Callable[..., FastAPI]:
    def make(llm: Any = None, data_dir: Path | None = None, **overrides: Any) -> FastAPI:
        return create_app(build_services(embedder, data_dir or index_dir, llm, **overrides), ui=False)

    return make


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        async def make(app: FastAPI, **kw: Any) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60, **kw))

        yield make


@pytest.fixture
async def client(make_app: Callable[..., FastAPI], make_client: Any) -> httpx.AsyncClient:
    """A client of the extractive app over the shared sample index."""
    return await make_client(make_app())


@pytest.fixture
def serve() -> Callable[[FastAPI], contextlib.AbstractContextManager[str]]:
    """``with serve(app) as base_url:`` a real uvicorn server on 127.0.0.1."""
    return serve_in_thread
