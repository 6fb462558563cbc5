"""Scope the question: per browser session, ask only some documents (picked by id, and/or every
document under a folder or file-name prefix). The choice lives in ``gr.State`` as a ``Scope`` dict
and is resolved to document ids when a question is asked, so documents uploaded later that match
the prefix are included.

Example::

    scope = {"ids": ["7c13dbb0ce6aad77"], "prefix": "reports/2024"}
    services.engine.stream(question, history, scope_ids(services, scope))
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.schema import DocumentInfo
from ui.render import document_choices, render_scope, render_status

if TYPE_CHECKING:
    from assistant.services import Services

Scope = dict[str, Any]  # {"ids": [doc_id, ...], "prefix": str}; both empty: every document


def empty_scope() -> Scope:
    return {"ids": [], "prefix": ""}


def matches_prefix(source: str, prefix: str) -> bool:
    """Whether ``prefix`` (a folder like ``reports/2024`` or ``/home/me/notes``, or the start of a
    file name) matches ``source`` from one of its path components on."""
    want = prefix.strip().replace("\\", "/").strip("/")
    parts = [p for p in PurePath(source.replace("\\", "/")).parts if p not in ("/", "")]
    return bool(want) and any("/".join(parts[i:]).startswith(want) for i in range(len(parts)))


def resolve(documents: list[DocumentInfo], scope: Scope | None) -> list[DocumentInfo] | None:
    """The documents ``scope`` selects (picked ids, plus prefix matches), or ``None``: every document."""
    ids, prefix = set((scope or {}).get("ids") or []), str((scope or {}).get("prefix") or "").strip()
    if not ids and not prefix:
        return None
    return [d for d in documents if d.id in ids or (prefix and matches_prefix(d.source, prefix))]


def scope_ids(services: Services, scope: Scope | None) -> list[str] | None:
    """Document ids to ask (``[]``: the scope matches nothing), or ``None`` to ask every document."""
    if resolve([], scope) is None:
        return None
    chosen = resolve(services.ingestor.documents(), scope)
    return None if chosen is None else [d.id for d in chosen]


def set_scope(services: Services, ids: list[str] | None, prefix: str | None,
              documents: list[DocumentInfo] | None = None) -> tuple[Scope, str]:
    """The session's new scope and the "Asking: ..." line for it (``documents``: the list if already read)."""
    scope: Scope = {"ids": list(ids or []), "prefix": (prefix or "").strip()}
    if resolve([], scope) is None:
        return scope, render_scope(None)
    try:
        documents = services.ingestor.documents() if documents is None else documents
    except AssistantError as exc:
        return scope, render_status(exc.message, error=True)
    return scope, render_scope(resolve(documents, scope), scope["prefix"])


def scope_choices(services: Services, ids: list[str] | None, documents: list[DocumentInfo] | None = None
                  ) -> tuple[list[tuple[str, str]], list[str]]:
    """(choices, still-valid picked ids) for the scope picker, after documents changed (``documents``: the list
    if already read)."""
    try:
        documents = services.ingestor.documents() if documents is None else documents
    except AssistantError:
        return [], list(ids or [])
    known = {d.id for d in documents}
    return document_choices(documents), [i for i in ids or [] if i in known]
