"""``GET /healthz`` (the process answers) and ``GET /readyz`` (the index and the LLM are usable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from assistant.api.bodies import Check, Readiness
from assistant.api.deps import ServicesDep
from assistant.errors import AssistantError, LLMUnavailable
from assistant.services import Services

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: always 200 while the process serves requests."""
    return {"status": "ok"}


def readiness(services: Services) -> Readiness:
    """Ping the index and count its documents; ask the LLM whether it is loaded or loadable
    (``ready()`` never loads a model). The first failure names the error code."""
    checks: dict[str, Check] = {}
    error: AssistantError | None = None
    try:
        store = services.store
        store.ping()
        checks["index"] = Check(ok=True, detail=f"chroma {store.url}", documents=store.doc_count())  # one count
    except AssistantError as exc:
        checks["index"], error = Check(ok=False, detail=exc.message), exc
    backend = services.settings.llm.backend
    if backend == "extractive":
        checks["llm"] = Check(ok=True, detail="extractive (no LLM)")
    else:
        try:
            llm = services.llm
            ok, detail = llm.ready() if llm is not None else (False, "no LLM built")
        except AssistantError as exc:
            ok, detail = False, exc.message
        checks["llm"] = Check(ok=ok, detail=f"{backend}: {detail}")
        if not ok and error is None:
            error = LLMUnavailable(detail)
    if error is None:
        return Readiness(status="ready", checks=checks)
    return Readiness(status="unavailable", checks=checks, error={"code": error.code, "message": error.message})


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 when the index answers and the LLM is loaded or loadable, else 503; both with details."""
    result = await run_in_threadpool(readiness, services)
    return JSONResponse(result.model_dump(exclude_none=True), status_code=200 if result.status == "ready" else 503)
