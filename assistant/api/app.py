"""The app factory: ``create_app(services)`` -> the FastAPI app (REST under /v1, the Gradio chat at /).

Example::

    app = create_app(Services(Settings()))                 # what `assistant serve` runs
    app = create_app(services, ui=False)                   # API only (tests, headless servers)

Everything is configured from ``services.settings`` here, at construction: bearer auth on /v1 when
``api_key`` is set (and a sign-in with the same key for the UI, ``assistant.api.ui_auth``), CORS when ``cors_origins`` is set, request body limits (1 MB for JSON,
``max_upload_mb`` for uploads).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from assistant.api import routes_ask, routes_documents, routes_feedback, routes_health, routes_openai
from assistant.api.backpressure import GenerationGate
from assistant.api.deps import require_api_key
from assistant.api.errors import install_error_handlers
from assistant.api.limits import BodyLimitMiddleware, MiB
from assistant.api.ui_auth import UIAuthMiddleware
from assistant.services import Services

API_PREFIX = "/v1"
JSON_BODY_LIMIT = MiB
MULTIPART_OVERHEAD = 64 * 1024


def create_app(services: Services, *, ui: bool = True, watch: list[Path] | None = None,
               on_watch_line: Callable[[str], None] | None = None) -> FastAPI:
    """``watch``: folders kept in sync with the index by a background watcher that starts and stops
    with the app's lifespan (``assistant serve --watch PATH``); ``on_watch_line`` gets its log lines."""
    settings = services.settings
    # built now, so that a bad folder fails at start-up, not in the background
    watcher = services.folder_watcher(watch, emit=on_watch_line) if watch else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()

    app = FastAPI(
        title="Grounded assistant",
        summary="Answers from your own documents, with verified citations.",
        version="0.1.0",
        docs_url="/docs",
        lifespan=lifespan,
    )
    app.state.watcher = watcher
    app.state.services = services
    # back-pressure in front of the LLM: by default only for the local model, which generates one answer at
    # a time (the extractive backend takes milliseconds; an OpenAI-compatible server batches on its own)
    parallel = settings.llm.max_parallel or (1 if settings.llm.backend == "local" else 0)
    app.state.generation_gate = (GenerationGate(parallel, settings.llm.max_queue)
                                 if parallel and settings.llm.backend != "extractive" else None)
    install_error_handlers(app)

    upload_limit = int(settings.max_upload_mb * MiB) + MULTIPART_OVERHEAD
    app.add_middleware(BodyLimitMiddleware, prefix=API_PREFIX, default=JSON_BODY_LIMIT,
                       overrides={("POST", f"{API_PREFIX}/documents"): upload_limit})
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])

    app.include_router(routes_health.router)
    auth = [Depends(require_api_key)]
    for feature in (routes_ask, routes_openai, routes_documents, routes_feedback):
        app.include_router(feature.router, prefix=API_PREFIX, dependencies=auth)
    # Unknown /v1 paths must get JSON errors even when the UI is mounted at "/" and would catch them.
    app.add_api_route(f"{API_PREFIX}/{{path:path}}", _api_not_found, include_in_schema=False,
                      methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])

    if ui:
        from ui.chat import mount_ui

        app = mount_ui(app, services, path="/")
        key = settings.api_key.get_secret_value()
        if key:  # one key for everything: the UI and Gradio's routes under the mount need it too
            app.add_middleware(UIAuthMiddleware, key=key, session_hours=settings.ui_session_hours,
                               api_prefix=API_PREFIX)
    return app


async def _api_not_found(request: Request, path: str) -> None:
    """404 for an unknown /v1 path; 405 (with ``Allow``) when the path exists for other methods."""
    allowed = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method, "path_params": {}}
        for route in request.app.router.routes:
            if isinstance(route, Mount) or getattr(route, "endpoint", None) is _api_not_found:
                continue  # the UI mounted at "/" matches every path
            if route.matches(probe)[0] == Match.FULL:
                allowed.add(method)
                break
    if allowed:
        raise HTTPException(405, f"{request.method} is not allowed on {request.url.path}",
                            headers={"Allow": ", ".join(sorted(allowed))})
    raise HTTPException(404, f"no route {request.method} {request.url.path}; see /docs")
