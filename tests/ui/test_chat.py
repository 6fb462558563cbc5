"""ui.chat callbacks, called directly: streaming, history, errors, uploads, documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from assistant.errors import IndexNotReady
from assistant.llm.fake import ScriptedLLM
from assistant.schema import Answer, ChatTurn, Grounding
from ui.chat import build_ui, delete, refresh_documents, reply, upload


class ScriptedEngine:
    """Implements ``AnswerEngine.stream``: yields the scripted items (raising an exception item)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.calls: list[tuple[str, list[ChatTurn]]] = []
        self.scopes: list[list[str] | None] = []

    def stream(self, question: str, history: list[ChatTurn], document_ids: list[str] | None = None
               ) -> Iterator[str | Answer]:
        self.calls.append((question, history))
        self.scopes.append(document_ids)
        for item in self.items:
            if isinstance(item, Exception):
                raise item
            yield item


def _final(text: str = "Seoul summoned the ambassador. [1]") -> Answer:
    return Answer(answer=text, abstained=False, citations=[], grounding=Grounding(score=1.0), query="q")


def test_reply_streams_tokens_then_replaces_them_with_the_verified_answer() -> None:
    engine = ScriptedEngine(["Seoul ", "summoned ", "someone", _final()])
    updates = list(reply(SimpleNamespace(engine=engine), "  q  ", [], []))
    chats = [chat for chat, _, _ in updates]
    assert chats[0][-1]["content"].startswith('<div class="ga-answer ga-streaming">')
    assert "Seoul summoned someone" in chats[3][-1]["content"]
    final_chat, history, box = updates[-1]
    assert "ga-streaming" not in final_chat[-1]["content"] and "someone" not in final_chat[-1]["content"]
    assert [m["role"] for m in final_chat] == ["user", "assistant"]
    assert history == [{"role": "user", "content": "q"},
                       {"role": "assistant", "content": "Seoul summoned the ambassador. [1]",
                        "answer_id": updates[-1][1][-1]["answer_id"]}]
    assert len(history[-1]["answer_id"]) == 32  # the answer's id, for the thumbs
    assert box == ""


def test_reply_passes_the_session_history_to_the_engine() -> None:
    engine = ScriptedEngine([_final()])
    before = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "answer"}]
    *_, (_, history, _) = reply(SimpleNamespace(engine=engine), "and then?", [], before)
    assert engine.calls == [("and then?", [ChatTurn(role="user", content="first"),
                                           ChatTurn(role="assistant", content="answer")])]
    assert len(history) == 4 and before == [{"role": "user", "content": "first"},
                                            {"role": "assistant", "content": "answer"}]


def test_empty_question_is_refused_without_calling_the_engine() -> None:
    engine = ScriptedEngine([_final()])
    [(chat, history, _)] = list(reply(SimpleNamespace(engine=engine), "   ", [], []))
    assert engine.calls == [] and history == []
    assert "ga-error" in chat[-1]["content"] and "Type a question" in chat[-1]["content"]


def test_errors_become_friendly_messages_and_do_not_enter_history() -> None:
    known = list(reply(SimpleNamespace(engine=ScriptedEngine([IndexNotReady("nothing is indexed yet")])), "q", [], []))
    assert "nothing is indexed yet" in known[-1][0][-1]["content"] and known[-1][1] == []
    crash = list(reply(SimpleNamespace(engine=ScriptedEngine(["tok", RuntimeError("secret trace")])), "q", [], []))
    content = crash[-1][0][-1]["content"]
    assert "ga-error" in content and "secret trace" not in content and "Traceback" not in content


def test_failed_llm_degrades_with_a_notice(sample_settings: Any, make_services: Any) -> None:
    """A real engine whose LLM fails: the extractive answer arrives with the engine's notice."""
    sample_settings.llm = sample_settings.llm.model_copy(update={"backend": "fake"})
    services = make_services(sample_settings, llm=ScriptedLLM(fail=True))
    chat, history, _ = list(reply(services, "What did South Korea do in response?", [], []))[-1]
    assert 'class="ga-notice"' in chat[-1]["content"] and "language model failed" in chat[-1]["content"]
    assert "summoning of Russia" in chat[-1]["content"] and len(history) == 2


def list_documents(services: Any) -> tuple[Any, ...]:
    """(table rows, delete dropdown, status) of the documents panel."""
    return refresh_documents(services, [], "")[:3]


def test_upload_list_and_delete_documents(services: Any, tmp_path: Path) -> None:
    rows, dropdown, status = list_documents(services)
    assert rows == [] and "No documents yet" in status
    good = tmp_path / "notes.txt"
    good.write_text("The harbour master logged forty-two ferries in March.", encoding="utf-8")
    bad = tmp_path / "image.bin"
    bad.write_bytes(b"\x00\x01")
    report, cleared = upload(services, [str(good), str(bad)])
    assert cleared is None and "1 added, 1 failed" in report and "image.bin" in report
    rows, dropdown, status = list_documents(services)
    assert [r[0] for r in rows] == ["notes.txt"] and "1 document indexed" in status
    [(label, doc_id)] = dropdown.choices
    assert label.startswith("notes.txt")
    assert "Deleted document" in delete(services, doc_id)
    assert list_documents(services)[0] == []
    assert "Choose a document" in delete(services, None)
    assert upload(services, None) == ("", None)


def test_build_ui_is_offline_blocks(services: Any) -> None:
    demo = build_ui(services)
    assert isinstance(demo, gr.Blocks) and demo.analytics_enabled is False
    assert any(isinstance(b, gr.Chatbot) for b in demo.blocks.values())


def test_a_scope_that_matches_no_document_is_refused_without_asking() -> None:
    from assistant.schema import DocumentInfo

    doc = DocumentInfo(id="a1", source="/docs/a.txt", title="", chunks=1, version="v", ingested_at="")
    engine = ScriptedEngine([_final()])
    services = SimpleNamespace(engine=engine, ingestor=SimpleNamespace(documents=lambda: [doc]))
    *_, (chat, history, _) = reply(services, "q", [], [], {"ids": [], "prefix": "reports/"})
    assert "No indexed document matches" in chat[-1]["content"] and engine.calls == [] and history == []
    *_, (chat, _, _) = reply(services, "q", [], [], {"ids": [], "prefix": "docs/"})
    assert engine.scopes == [["a1"]] and "ga-meta" in chat[-1]["content"]


def test_answer_ids_follow_the_chat_for_the_thumbs() -> None:
    """Each answer message's chat index maps to its answer id; errors get none; "New chat" forgets all."""
    from ui.chat import index_answers, vote

    chat = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]
    history = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "answer_id": "id1"}]
    ids = index_answers(chat, history, {})
    assert ids == {1: "id1"}
    chat += [{"role": "user", "content": ""}, {"role": "assistant", "content": "error"}]  # history unchanged
    assert index_answers(chat, history, ids) == {1: "id1"}
    chat += [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]
    history += [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2", "answer_id": "id2"}]
    ids = index_answers(chat, history, ids)
    assert ids == {1: "id1", 5: "id2"}
    assert index_answers([], [], ids) == {}
    status, kept = vote(SimpleNamespace(), 3, False, ids, "")  # the error message: nothing to vote on
    assert "Only answers can be voted on" in status and kept is None


def test_a_refresh_reads_the_document_list_once_for_the_panel_and_the_scope_picker() -> None:
    from assistant.schema import DocumentInfo

    docs = [DocumentInfo(id="a1", source="/docs/a.txt", title="", chunks=1, version="v", ingested_at=""),
            DocumentInfo(id="b2", source="/reports/b.txt", title="", chunks=2, version="v", ingested_at="")]
    reads: list[int] = []
    services = SimpleNamespace(ingestor=SimpleNamespace(documents=lambda: reads.append(1) or docs))
    rows, delete_list, status, picker, scope, asking = refresh_documents(services, ["a1", "gone"], "docs/")
    assert len(reads) == 1, "one read of the document list per refresh"
    assert [r[0] for r in rows] == ["a.txt", "b.txt"] and "2 documents indexed" in status
    assert [v for _, v in delete_list.choices] == ["a1", "b2"]
    assert [v for _, v in picker.choices] == ["a1", "b2"] and picker.value == ["a1"], "a deleted pick is dropped"
    assert scope == {"ids": ["a1"], "prefix": "docs/"} and "a.txt" in asking


def test_a_refresh_that_cannot_read_the_documents_names_the_error_and_leaves_the_scope_alone() -> None:
    def down() -> list[Any]:
        raise IndexNotReady("the index is not reachable")

    rows, _, status, *scope_outputs = refresh_documents(SimpleNamespace(ingestor=SimpleNamespace(documents=down)),
                                                        ["a1"], "")
    assert rows == [] and "not reachable" in status
    assert scope_outputs == [gr.skip()] * 3, "the scope picker and the scope keep their state"
