"""Fixtures of the UI tests: real Services over the sample document, and a real uvicorn server.

``ui_services`` is module-scoped (ingesting the sample once per module) and reuses the session
MiniLM embedder of ``tests/conftest.py``. ``ui_server`` serves the app on a free loopback port from a
background thread: ``assistant.api.app.create_app(services)`` when it exists, else a bare FastAPI app
with the Blocks mounted at ``/`` by ``ui.chat.mount_ui``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import serve_in_thread

from assistant.services import Services
from assistant.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def ui_services(tmp_path_factory: pytest.TempPathFactory, embedder: Any, copy_sample_index: Any) -> Services:
    """Services on a data dir of its own with the sample document indexed (a copy of the session's
    ``sample_index``; the UI tests upload and delete), extractive backend."""
    settings = Settings(data_dir=copy_sample_index(tmp_path_factory.mktemp("ui") / "data"),
                        llm={"backend": "extractive"})
    return Services(settings, embedder=embedder)


def _app(services: Services) -> Any:
    try:
        from assistant.api.app import create_app

        return create_app(services)
    except Exception as exc:  # noqa: BLE001 - the REST app is another module's; the UI can still be tested
        warnings.warn(f"create_app(services) failed ({exc!r}); serving the UI on a bare FastAPI app", stacklevel=2)
    from fastapi import FastAPI

    from ui.chat import mount_ui

    return mount_ui(FastAPI(), services)


@pytest.fixture(scope="module")
def ui_server(ui_services: Services) -> Iterator[str]:
    """The app on ``http://127.0.0.1:PORT`` (real uvicorn, in a daemon thread)."""
    with serve_in_thread(_app(ui_services), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
