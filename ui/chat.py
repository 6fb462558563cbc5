"""The Gradio chat page: ``build_ui(services) -> gr.Blocks``, mounted at ``/`` by the REST app.

Layout: a header, the chat (left: the "Asking: ..." scope line and its picker above it) and a documents
panel (right: upload, what was ingested, the indexed documents, delete); the source viewer slides in
from the right when a citation is clicked (``ui.viewer``). Callbacks are thin: parse, call one service
method, render with ``ui.render``. Per-browser-session state (the displayed messages, the ``ChatTurn``
history the engine condenses follow-ups from, the chosen documents) lives in ``gr.State``, so two people
never share a chat.

Example::

    app = FastAPI()
    mount_ui(app, Services(settings))   # or gr.mount_gradio_app(app, build_ui(services), path="/")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.schema import Answer, ChatTurn
from ingest.loaders import SUPPORTED
from ui.render import (
    DOCUMENT_HEADERS,
    document_choices,
    document_rows,
    render_answer,
    render_error,
    render_ingest_report,
    render_partial,
    render_question,
    render_scope,
    render_status,
)
from ui.scope import Scope, empty_scope, scope_choices, scope_ids, set_scope
from ui.viewer import PAGE_JS, SCROLL_JS, TARGET_JS, open_source

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.services import Services

log = logging.getLogger(__name__)

Message = dict[str, str]
ChatUpdate = tuple[list[Message], list[dict[str, str]], str]
UNEXPECTED = "Something unexpected went wrong on the server; the server log has the details."
EMPTY_QUESTION = "Type a question about your documents first."
EMPTY_SCOPE = "No indexed document matches the documents chosen to ask: change or clear the choice above the chat."
EXAMPLES = ["What did South Korea do in response?", "Who summoned the Russian ambassador?"]

THEME = gr.themes.Default(
    primary_hue="indigo",
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)

# Shipped inside the page (a <style> in the header) so it applies however the Blocks is mounted:
# ``gr.mount_gradio_app`` resets ``Blocks.css`` unless ``css=`` is passed to it.
CSS = """
.ga-header h1 { margin: 0 0 .15rem 0; font-size: 1.6rem; }
.ga-header p { margin: 0; opacity: .75; }
.ga-answer { line-height: 1.5; }
.ga-answer .ga-cite { color: var(--color-accent); font-weight: 600; margin-left: 1px; }
.ga-query { font-size: .85em; opacity: .7; margin-bottom: .35rem; }
.ga-notice { font-size: .9em; border-left: 3px solid #d97706; background: rgba(217,119,6,.10);
  padding: .35rem .6rem; border-radius: 4px; margin-bottom: .5rem; }
.ga-abstain { border-left: 4px solid #6b7280; background: rgba(107,114,128,.12); padding: .5rem .75rem;
  border-radius: 6px; }
.ga-abstain strong { color: #4b5563; }
.dark .ga-abstain strong { color: #d1d5db; }
.ga-abstain p { margin: .25rem 0 0 0; }
.ga-sources { margin-top: .6rem; border-top: 1px solid var(--border-color-primary); padding-top: .4rem; }
.ga-label { font-size: .75em; text-transform: uppercase; letter-spacing: .05em; opacity: .65; }
.ga-source { margin: .25rem 0; }
#chat .ga-source > * { margin-top: .2rem; }
.ga-source summary { cursor: pointer; font-size: .9em; }
.ga-num { font-weight: 600; color: var(--color-accent); }
#chat .ga-source blockquote, .ga-source blockquote { margin: .3rem 0 .4rem .4rem; padding: .3rem .6rem; font-size: .9em;
  border-left: 3px solid var(--color-accent); background: var(--background-fill-secondary); }
.ga-dropped { font-size: .8em; opacity: .65; margin-top: .3rem; }
.ga-error { border-left: 4px solid #dc2626; background: rgba(220,38,38,.08); padding: .4rem .7rem;
  border-radius: 6px; }
.ga-status { font-size: .9em; opacity: .8; }
.ga-cursor { opacity: .6; animation: ga-blink 1s steps(1) infinite; }
@keyframes ga-blink { 50% { opacity: 0; } }
.ga-report { font-size: .9em; padding: .4rem .6rem; border-radius: 6px; }
.ga-report-ok { background: rgba(22,163,74,.10); }
.ga-report-failed { background: rgba(220,38,38,.08); }
.ga-report ul { margin: .3rem 0 0 1rem; }
"""

# Issue 12: citation links, the answer footer, the scope line and the source viewer (a side panel).
CSS += """
.ga-answer a.ga-open { color: var(--color-accent); text-decoration: none; cursor: pointer; }
.ga-answer a.ga-open:hover { text-decoration: underline; }
.ga-open-line { font-size: .85em; margin: 0 0 .3rem .4rem; }
.ga-meta { display: flex; gap: .75rem; align-items: center; margin-top: .5rem; font-size: .78em; opacity: .6; }
.ga-meta:hover { opacity: .9; }
.ga-meta .ga-copy { border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 .45rem;
  background: transparent; cursor: pointer; font-size: 1em; color: inherit; }
.ga-scope { font-size: .9em; padding: .15rem .1rem; overflow-wrap: anywhere; }
.ga-scope-empty strong { color: #b45309; }
.ga-answer pre.ga-md { display: none !important; }
#viewer { position: fixed; top: 0; right: 0; bottom: 0; width: min(600px, 100vw); z-index: 1000;
  display: flex; flex-direction: column; gap: .4rem; overflow: hidden; padding: .6rem .6rem 0 1.1rem;
  background: var(--background-fill-primary); box-shadow: -6px 0 24px rgba(0,0,0,.25);
  border-left: 1px solid var(--border-color-primary); }
#viewer-close { flex: 0 0 auto; align-self: flex-end; width: auto; min-width: 0; }
#viewer-body { flex: 1 1 auto; min-height: 0; overflow-y: auto !important; padding: 0 .5rem 2rem 0 !important; }
.ga-viewer-head { position: sticky; top: 0; z-index: 1; background: var(--background-fill-primary);
  border-bottom: 1px solid var(--border-color-primary); margin-bottom: .6rem; padding-bottom: .25rem; }
.ga-viewer h3 { margin: .1rem 0; font-size: 1.1rem; overflow-wrap: anywhere; }
.ga-viewer-where { font-size: .85em; opacity: .7; margin-bottom: .4rem; }
.ga-viewer .ga-doc { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.55; font-size: .95em; }
.ga-viewer mark { background: #fde68a; color: #111827; padding: .05em .1em; border-radius: 2px; }
.ga-page { margin-top: 1rem; border-top: 1px solid var(--border-color-primary); padding-top: .5rem; }
.ga-page summary { cursor: pointer; font-size: .9em; }
@media (max-width: 640px) {
  .gradio-container .main { padding-left: .5rem !important; padding-right: .5rem !important; }
  .ga-header h1 { font-size: 1.3rem; } .ga-header p { font-size: .9em; }
  #viewer { padding-left: .8rem; } }
"""

HEADER = f"""<style>{CSS}</style>
<div class="ga-header">
  <h1>Document assistant</h1>
  <p>Ask questions about your own documents: every answer is built from them and cites the passages
  it rests on, and says so when they don't cover the question.</p>
</div>"""


# -- callbacks (thin: parse, call one service method, render) ------------------------------------

def reply(services: Services, question: str, chat: list[Message], history: list[dict[str, str]],
          scope: Scope | None = None) -> Iterator[ChatUpdate]:
    """Stream one answer into the chat: tokens as they come, then the final verified answer.

    Yields ``(chat, history, textbox)``. ``history`` (ChatTurn dicts) only grows when an answer
    arrives, so a failed question does not feed the next follow-up's rewrite. ``scope`` (the
    session's choice of documents, ``ui.scope``) limits the documents asked.
    """
    question = (question or "").strip()
    chat = list(chat or [])
    if not question:
        yield [*chat, _bot(render_error(EMPTY_QUESTION))], history, ""
        return
    chat = [*chat, {"role": "user", "content": render_question(question)}]
    yield [*chat, _bot(render_partial(""))], history, ""
    streamed: list[str] = []
    started = time.perf_counter()
    try:
        turns = [ChatTurn.model_validate(t) for t in history or []]
        document_ids = scope_ids(services, scope)
        if document_ids == []:
            yield [*chat, _bot(render_error(EMPTY_SCOPE))], history, ""
            return
        for item in services.engine.stream(question, turns, document_ids):
            if isinstance(item, Answer):
                history = [*(history or []), {"role": "user", "content": question},
                           {"role": "assistant", "content": item.answer, "answer_id": item.id}]
                seconds = time.perf_counter() - started
                yield [*chat, _bot(render_answer(item, question, seconds))], history, ""
            else:
                streamed.append(item)
                yield [*chat, _bot(render_partial("".join(streamed)))], history, ""
    except AssistantError as exc:
        yield [*chat, _bot(render_error(exc.message))], history, ""
    except Exception:  # noqa: BLE001 - the page shows a friendly message, the log keeps the trace
        log.exception("chat: answering %r failed", question)
        yield [*chat, _bot(render_error(UNEXPECTED))], history, ""


def _bot(content: str) -> Message:
    return {"role": "assistant", "content": content}


def refresh_documents(services: Services, ids: list[str] | None, prefix: str | None) -> tuple[Any, ...]:
    """The documents panel (table rows, delete dropdown, status) and the scope picker (its dropdown, the
    session's scope, the "Asking: ..." line) from one read of the document list (it is the page's largest read:
    ~0.8 s at 6,000 documents)."""
    try:
        docs = services.ingestor.documents()
    except AssistantError as exc:
        return ([], gr.Dropdown(choices=[], value=None), render_status(exc.message, error=True),
                gr.skip(), gr.skip(), gr.skip())
    status = f"{len(docs)} document{'s' if len(docs) != 1 else ''} indexed." if docs else (
        "No documents yet: upload some to start asking questions.")
    choices, kept = scope_choices(services, ids, docs)
    return (document_rows(docs), gr.Dropdown(choices=document_choices(docs), value=None), render_status(status),
            gr.Dropdown(choices=choices, value=kept, multiselect=True), *set_scope(services, kept, prefix, docs))


def upload(services: Services, paths: list[str] | str | None) -> tuple[str, None]:
    """Ingest uploaded files; returns the rendered IngestReport and clears the file input."""
    if not paths:
        return "", None
    files = [(Path(p).name, Path(p).read_bytes()) for p in ([paths] if isinstance(paths, str) else paths)]
    try:
        report = services.ingestor.ingest_uploads(files)
    except AssistantError as exc:
        return render_status(exc.message, error=True), None
    return render_ingest_report(report), None


def delete(services: Services, doc_id: str | None) -> str:
    if not doc_id:
        return render_status("Choose a document to delete first.", error=True)
    try:
        removed = services.ingestor.delete(doc_id)
    except AssistantError as exc:
        return render_status(exc.message, error=True)
    return render_status(f"Deleted document {doc_id} ({removed} chunks).")


# -- the page ------------------------------------------------------------------------------------

def build_ui(services: Services) -> gr.Blocks:
    """The chat page over ``services`` (one shared engine; per-session state in ``gr.State``)."""
    with gr.Blocks(title="Document assistant", analytics_enabled=False) as demo:
        gr.HTML(HEADER, padding=False)
        chat_state = gr.State([])  # the rendered messages of this browser session
        history = gr.State([])  # ChatTurn dicts of this session, for follow-up rewriting
        scope = gr.State(empty_scope())  # the documents this session asks (ui.scope)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                scope_status = gr.HTML(render_scope(None), elem_id="scope-status", padding=False)
                with gr.Accordion("Choose documents to ask", open=False, elem_id="scope"):
                    scope_docs = gr.Dropdown(elem_id="scope-docs", label="Ask only these documents", choices=[],
                                             multiselect=True, value=[])
                    scope_prefix = gr.Textbox(elem_id="scope-prefix", label="and/or every document under a folder "
                                              "or file-name prefix", placeholder="e.g. reports/2024 or north-",
                                              max_lines=1)
                chatbot = gr.Chatbot(
                    elem_id="chat", show_label=False, height=600, layout="bubble", latex_delimiters=[],
                    buttons=[], feedback_options=FEEDBACK_OPTIONS, group_consecutive_messages=False,
                    placeholder="<strong>Ask about your documents.</strong><br>Answers cite their sources; "
                                "click a [n] to read it in the document.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question", show_label=False, scale=6, autofocus=True, max_lines=4,
                        placeholder="Ask a question, e.g. What did South Korea do in response?",
                    )
                    send = gr.Button("Ask", elem_id="ask", variant="primary", scale=1, min_width=80)
                add_feedback(services, chatbot, chat_state, history)
                with gr.Row():
                    gr.Examples(EXAMPLES, inputs=question, label="Try")
                    new_chat = gr.Button("New chat", elem_id="new-chat", size="sm", variant="secondary",
                                         scale=0, min_width=110)
            with gr.Column(scale=2, min_width=300):
                gr.Markdown("### Your documents")
                # no file_types filter: the ingestor reports why a file is refused, per file
                files = gr.File(elem_id="upload", label="Upload documents", file_count="multiple", height=120)
                gr.HTML(render_status(f"Supported: {' '.join(SUPPORTED)}. Re-uploading a file replaces it."))
                report = gr.HTML(elem_id="ingest-report")
                status = gr.HTML(elem_id="documents-status")
                table = gr.Dataframe(
                    elem_id="documents", headers=DOCUMENT_HEADERS, datatype=["str", "number", "str", "str"],
                    interactive=False, wrap=True, max_height=320, column_widths=["40%", "14%", "26%", "20%"],
                )
                with gr.Row():
                    chosen = gr.Dropdown(elem_id="delete-choice", label="Delete a document", choices=[],
                                         scale=3)
                    remove = gr.Button("Delete", elem_id="delete", variant="stop", scale=1, min_width=80)
        with gr.Column(visible=False, elem_id="viewer") as viewer:
            close_viewer = gr.Button("Close \u2715", elem_id="viewer-close", size="sm", variant="secondary")
            viewer_body = gr.HTML(elem_id="viewer-body", padding=False)
        viewer_open = gr.Button("open source", elem_id="viewer-open", visible="hidden")
        viewer_ref = gr.Textbox(elem_id="viewer-ref", visible="hidden")

        def on_ask(q: str, chat: list[Message], hist: list[dict[str, str]], chosen: Scope
                   ) -> Iterator[tuple[Any, ...]]:
            for messages, turns, box in reply(services, q, chat, hist, chosen):
                yield messages, messages, turns, box

        def on_refresh(ids: list[str] | None, prefix: str | None) -> tuple[Any, ...]:
            return refresh_documents(services, ids, prefix)

        def on_upload(paths: list[str] | None) -> tuple[str, None]:
            return upload(services, paths)

        def on_delete(doc_id: str | None) -> str:
            return delete(services, doc_id)

        ask_in, ask_out = [question, chat_state, history, scope], [chatbot, chat_state, history, question]
        question.submit(fn=on_ask, inputs=ask_in, outputs=ask_out, show_progress="hidden")
        send.click(fn=on_ask, inputs=ask_in, outputs=ask_out, show_progress="hidden")
        new_chat.click(lambda: ([], [], [], ""), None, [chat_state, history, chatbot, question], queue=False)
        # the chat's own trash button clears the displayed messages: forget the session's history too
        chatbot.clear(lambda: ([], []), None, [chat_state, history], queue=False)
        refresh_in, refresh_out = [scope_docs, scope_prefix], [table, chosen, status, scope_docs, scope, scope_status]
        files.upload(on_upload, files, [report, files]).then(on_refresh, refresh_in, refresh_out)
        remove.click(on_delete, chosen, report).then(on_refresh, refresh_in, refresh_out)
        demo.load(on_refresh, refresh_in, refresh_out)

        # -- issue 12: the source viewer and the question's scope --------------------------------
        def on_open(ref: str) -> tuple[str, Any]:
            return open_source(services, ref), gr.Column(visible=True)

        def on_scope(ids: list[str] | None, prefix: str | None) -> tuple[Scope, str]:
            return set_scope(services, ids, prefix)

        viewer_open.click(on_open, viewer_ref, [viewer_body, viewer], js=TARGET_JS, queue=False
                          ).then(None, js=SCROLL_JS)
        close_viewer.click(lambda: gr.Column(visible=False), None, viewer, queue=False)
        for control in (scope_docs, scope_prefix):
            control.change(on_scope, [scope_docs, scope_prefix], [scope, scope_status], show_progress="hidden")
        demo.load(None, js=PAGE_JS)
    return demo


# -- feedback: thumbs up/down on every answer, and an optional note ------------------------------------
# Kept apart from the chat above: ``reply`` only tags each answer turn of ``history`` with its ``answer_id``.

FEEDBACK_OPTIONS = ("Like", "Dislike")  # Gradio renders exactly these two as thumbs
VOTE_THANKS = {"up": "Thanks: your thumbs-up is stored.", "down": "Thanks: your thumbs-down is stored."}
NOTE_LABEL = "What was wrong, or the right passage (paste it in quotes)"


def index_answers(chat: list[Message], history: list[dict[str, str]], ids: dict[int, str] | None) -> dict[int, str]:
    """Chat message index -> answer id, for the answers of this session (rebuilt as ``history`` changes)."""
    known = {t["answer_id"] for t in history or [] if t.get("answer_id")}
    ids = {i: a for i, a in (ids or {}).items() if a in known}  # "New chat" empties history: forget all
    last = next((t["answer_id"] for t in reversed(history or []) if t.get("answer_id")), None)
    if last and last not in ids.values() and chat and chat[-1].get("role") == "assistant":
        ids[len(chat) - 1] = last
    return ids


def vote(services: Services, index: Any, liked: Any, ids: dict[int, str] | None, note: str
         ) -> tuple[str, dict[str, str] | None]:
    """Store a thumbs up (``liked`` True) or down (False) on the answer at chat ``index``, with the note
    (a quoted passage in it, or the whole note, becomes the right passage when found in the documents).
    Returns (status, the vote, for a note sent afterwards)."""
    answer_id = (ids or {}).get(index if isinstance(index, int) else -1)
    if answer_id is None:
        return render_status("Only answers can be voted on.", error=True), None
    if not isinstance(liked, bool):  # the thumb was clicked again: the stored vote stays
        return render_status("The stored vote stays until you click a thumb again."), None
    choice = "up" if liked else "down"
    return _store_vote(services, answer_id, choice, note)


def send_note(services: Services, last: dict[str, str] | None, note: str) -> tuple[str, dict[str, str] | None]:
    """Store the note with the session's last vote (it replaces that vote's record)."""
    if not last:
        return render_status("Vote on an answer first (the thumbs under it).", error=True), None
    if not (note or "").strip():
        return render_status("Write what was wrong, or paste the right passage, first.", error=True), last
    return _store_vote(services, last["answer_id"], last["vote"], note)


def _store_vote(services: Services, answer_id: str, choice: str, note: str) -> tuple[str, dict[str, str] | None]:
    try:
        record = services.feedback.submit(answer_id, "up" if choice == "up" else "down", note or "",
                                          passage_from_note=True)
    except AssistantError as exc:
        return render_status(exc.message, error=True), None
    found = f" The right passage was found in {Path(record.passage.source).name}." if record.passage else ""
    ask = " Add a note: what was wrong, or the right passage." if choice == "down" and not record.note else ""
    return render_status(VOTE_THANKS[choice] + found + ask), {"answer_id": answer_id, "vote": choice}


def add_feedback(services: Services, chatbot: gr.Chatbot, chat_state: gr.State, history: gr.State) -> None:
    """The note box and status under the chat, and the events of the chat's thumbs."""
    ids = gr.State({})  # chat message index -> answer id, for this session
    last = gr.State(None)  # this session's last vote, for a note sent after it
    with gr.Column(visible=False, elem_id="feedback") as box:
        note = gr.Textbox(elem_id="feedback-note", label=NOTE_LABEL, max_lines=4)
        with gr.Row(equal_height=False):
            send = gr.Button("Send note", elem_id="feedback-send", size="sm", scale=0, min_width=110)
            status = gr.HTML(elem_id="feedback-status")

    def on_like(data: gr.LikeData, known: dict[int, str], text: str) -> tuple[Any, ...]:
        html, vote_ = vote(services, data.index, data.liked, known, text)
        return html, vote_, gr.Column(visible=True), ("" if vote_ and text else text)

    def on_send(vote_: dict[str, str] | None, text: str) -> tuple[Any, ...]:
        html, kept = send_note(services, vote_, text)
        return html, kept, (text if "ga-error" in html else "")

    history.change(index_answers, [chat_state, history, ids], ids, queue=False, show_progress="hidden")
    chatbot.like(on_like, [ids, note], [status, last, box, note], queue=False, show_progress="hidden")
    send.click(on_send, [last, note], [status, last, note], queue=False, show_progress="hidden")


def mount_ui(app: FastAPI, services: Services, path: str = "/") -> FastAPI:
    """Mount the chat page on ``app`` with its theme (system fonts: no web-font requests), the
    upload size limit of the settings, and a footer without Gradio's run-history/settings links."""
    return gr.mount_gradio_app(app, build_ui(services), path=path, theme=THEME, css=CSS,
                               footer_links=["api"], run_history=False,
                               max_file_size=int(services.settings.max_upload_mb * 2**20))
