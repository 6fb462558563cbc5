"""``POST /v1/documents`` (multipart upload -> ingest), ``GET /v1/documents``, ``DELETE /v1/documents/{id}``,
``GET /v1/documents/{id}`` (metadata) and ``GET /v1/documents/{id}/text`` (a passage with its context).

Upload status codes:

* 200 -- every file was ingested (added, updated or unchanged);
* 207 -- some files were ingested and some failed: the body is the report, ``failures`` lists them;
* 413 -- the upload is over ``settings.max_upload_mb`` (checked from Content-Length before reading,
  and again while reading each file);
* 415 -- every file has an unsupported type;
* 422 -- no file could be ingested for other reasons (``error.details`` is the report), or no ``files`` part.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from assistant.api.bodies import ERROR_RESPONSES, DeleteResult, UploadResult
from assistant.api.deps import ServicesDep
from assistant.api.errors import UploadRejected
from assistant.errors import DocumentTooLarge, UnsupportedFormat
from assistant.schema import DocumentInfo, Passage
from ingest.excerpts import DEFAULT_CONTEXT, MAX_CONTEXT

MAX_PAGE = 10_000  # documents per page of GET /v1/documents

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)
READ_CHUNK = 2**20
MAX_FILES = 100

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["files"],
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        }}},
    }
}


async def read_files(uploads: list[UploadFile], limit: int) -> list[tuple[str, bytes]]:
    """The files' bytes, read a chunk at a time; 413 as soon as their total passes ``limit``."""
    files, total = [], 0
    for upload in uploads:
        parts = []
        while chunk := await upload.read(READ_CHUNK):
            total += len(chunk)
            if total > limit:
                raise DocumentTooLarge(f"the upload is over the {limit / 2**20:.1f} MB limit (max_upload_mb)")
            parts.append(chunk)
        files.append((upload.filename or "upload", b"".join(parts)))
    return files


@router.post("/documents", response_model=UploadResult, openapi_extra=_UPLOAD_BODY,
             responses={207: {"model": UploadResult, "description": "some files failed; see `failures`"},
                        415: ERROR_RESPONSES[422]})
async def upload_documents(request: Request, services: ServicesDep) -> JSONResponse:
    """Upload one or more files (form field ``files``) and index them."""
    limit = int(services.settings.max_upload_mb * 2**20)
    async with request.form(max_files=MAX_FILES) as form:  # parsed after auth; spooled to disk past 1 MB
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not uploads:
            raise RequestValidationError([{"type": "missing", "loc": ("body", "files"), "input": None,
                                           "msg": "no files: send multipart/form-data with one or more `files` parts"}])
        files = await read_files(uploads, limit)
    report = await run_in_threadpool(services.ingestor.ingest_uploads, files)
    result = UploadResult(**report.model_dump(), document_ids=report.document_ids)
    ingested = sum(report.documents[k] for k in ("added", "updated", "unchanged"))
    if report.failures and not ingested:
        all_unsupported = all(f.code == UnsupportedFormat.code for f in report.failures)
        raise UploadRejected(f"none of the {len(files)} files could be ingested: "
                             + "; ".join(f"{f.path}: {f.reason}" for f in report.failures),
                             details=result.model_dump(),
                             code=UnsupportedFormat.code if all_unsupported else None,
                             status=UnsupportedFormat.status if all_unsupported else None)
    return JSONResponse(result.model_dump(), status_code=207 if report.failures else 200)


@router.get("/documents", response_model=list[DocumentInfo])
async def list_documents(
    services: ServicesDep, response: Response,
    offset: Annotated[int, Query(ge=0, description="Skip this many documents (in order of source path)")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description=f"At most this many, 1..{MAX_PAGE} "
                                                                       "(default: all)")] = None,
) -> list[DocumentInfo]:
    """The indexed documents, in order of source path; a page of them with ``offset``/``limit``. The header
    ``X-Total-Count`` holds how many there are in all."""
    docs = await run_in_threadpool(services.ingestor.documents)
    response.headers["X-Total-Count"] = str(len(docs))
    return docs[offset : None if limit is None else offset + limit]


@router.delete("/documents/{doc_id}", response_model=DeleteResult, responses={404: ERROR_RESPONSES[422]})
async def delete_document(doc_id: str, services: ServicesDep) -> DeleteResult:
    """Remove a document and its chunks from the index."""
    removed = await run_in_threadpool(lambda: services.ingestor.delete(doc_id))
    return DeleteResult(id=doc_id, chunks_removed=removed)


# -- the source viewer ---------------------------------------------------------------------------

@router.get("/documents/{doc_id}", response_model=DocumentInfo, responses={404: ERROR_RESPONSES[422]})
async def get_document(doc_id: str, services: ServicesDep) -> DocumentInfo:
    """One document's metadata (``pages`` > 0 for PDFs ingested with page offsets)."""
    return await run_in_threadpool(services.ingestor.document, doc_id)


@router.get("/documents/{doc_id}/text", response_model=Passage, responses={404: ERROR_RESPONSES[422]})
async def get_document_text(
    doc_id: str, services: ServicesDep,
    start: Annotated[int, Query(description="Start of the passage (a citation's `start`)")] = 0,
    end: Annotated[int | None, Query(description="End of the passage (a citation's `end`); default `start`")] = None,
    context: Annotated[int, Query(description=f"Characters of context on each side, 0..{MAX_CONTEXT}, "
                                              "cut at paragraph boundaries")] = DEFAULT_CONTEXT,
) -> Passage:
    """The document's text around ``[start:end]``: ``quote`` is exactly ``text[start:end]`` of the document,
    ``text`` is ``[context_start:context_end]``; for PDFs the page and its text. 422 ``invalid_range`` or
    ``range_out_of_bounds`` for a range that is not inside the document."""
    return await run_in_threadpool(services.ingestor.passage, doc_id, start, end, context)
