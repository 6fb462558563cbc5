"""The chat page in a real browser: Debian's headless Chromium against a real uvicorn server.

Covers the issue end to end: a streamed, cited answer with an expandable quote, a follow-up with its
rewritten question, an abstention, an upload listed in the documents table and then deleted, and
per-session history (a second browser context starts with an empty chat). No request may leave
loopback (no CDN, no web fonts, no analytics).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 60_000


def _open(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if urlparse(r.url).hostname not in ("127.0.0.1", "localhost") and not r.url.startswith("data:")
            else None)
    page.goto(url + "/", wait_until="domcontentloaded")
    page.locator("#question textarea").wait_for(timeout=TIMEOUT_MS)
    return context, page, outside


def _ask(page: Any, question: str) -> Any:
    """Type and send a question; return the locator of the finished answer to it."""
    from playwright.sync_api import expect

    before = page.locator("#chat .ga-answer:not(.ga-streaming), #chat .ga-error").count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    done = page.locator("#chat .ga-answer:not(.ga-streaming), #chat .ga-error")
    expect(done).to_have_count(before + 1, timeout=TIMEOUT_MS)
    return done.nth(before)


def test_chat_answers_with_sources_follow_up_upload_and_delete(browser: Any, ui_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context, page, outside = _open(browser, ui_server)
    try:
        expect(page.locator(".ga-header h1")).to_have_text("Document assistant")
        expect(page.locator("#documents")).to_contain_text("north-korean-troops-in-ukraine.txt", timeout=TIMEOUT_MS)

        # a cited answer; its source expands to the quoted evidence
        answer = _ask(page, "What did South Korea do in response?")
        expect(answer.locator(".ga-text")).to_contain_text("South Korea has already raised alarms")
        summary = answer.locator(".ga-source summary").first
        expect(summary).to_contain_text("[1] north-korean-troops-in-ukraine.txt")
        quote = answer.locator(".ga-source blockquote").first
        expect(quote).to_be_hidden()
        summary.click()
        expect(quote).to_be_visible()
        expect(quote).to_contain_text("summoning of Russia")

        # a follow-up shows the question it was rewritten to
        follow = _ask(page, "And what did Russia say?")
        expect(follow.locator(".ga-query")).to_contain_text("follow-up to: What did South Korea do in response?")

        # an off-topic question abstains, shown distinctly
        off = _ask(page, "What is the capital of Australia?")
        expect(off.locator(".ga-abstain")).to_contain_text("Not in your documents")
        expect(off.locator(".ga-source")).to_have_count(0)

        # an empty question is refused in the chat, without a stack trace
        page.locator("#question textarea").fill("   ")
        page.locator("#ask").click()
        expect(page.locator("#chat .ga-error").last).to_contain_text("Type a question")

        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

        # upload a .txt and an unsupported file: the report names both, the table lists the .txt
        notes = tmp_path / "harbour-notes.txt"
        notes.write_text("The harbour master of Port Elwin logged forty-two ferries in March. "
                         "Each ferry carried about ninety passengers across the bay.", encoding="utf-8")
        bad = tmp_path / "image.bin"
        bad.write_bytes(b"\x00\x01\x02")
        page.locator("#upload input[type=file]").set_input_files([str(notes), str(bad)])
        report = page.locator("#ingest-report")
        expect(report).to_contain_text("1 added", timeout=TIMEOUT_MS)
        expect(report).to_contain_text("image.bin")
        expect(report).to_contain_text("unsupported file type")
        expect(page.locator("#documents")).to_contain_text("harbour-notes.txt", timeout=TIMEOUT_MS)
        expect(page.locator("#documents-status")).to_contain_text("2 documents indexed")

        # and the new document answers questions
        ferries = _ask(page, "How many ferries did the harbour master log in March?")
        expect(ferries.locator(".ga-source summary").first).to_contain_text("harbour-notes.txt")
        ferries.locator(".ga-source summary").first.click()
        expect(ferries.locator(".ga-source blockquote").first).to_contain_text("forty-two ferries")
        ferries.locator(".ga-source blockquote").first.scroll_into_view_if_needed()

        page.screenshot(path=str(tmp_path / "chat-upload.png"), full_page=True)
        target = REPO_ROOT / "var" / "ui-screenshot.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "chat-upload.png", target)

        # delete it through the dropdown
        page.locator("#delete-choice input").click()
        page.get_by_role("option", name="harbour-notes.txt").click()
        page.locator("#delete").click()
        expect(report).to_contain_text("Deleted document", timeout=TIMEOUT_MS)
        expect(page.locator("#documents")).not_to_contain_text("harbour-notes.txt", timeout=TIMEOUT_MS)
        expect(page.locator("#documents")).to_contain_text("north-korean-troops-in-ukraine.txt")

        # "New chat" clears this session's conversation
        page.locator("#new-chat").click()
        expect(page.locator("#chat .ga-answer")).to_have_count(0)
        assert outside == [], f"the page made requests off loopback: {outside}"
    finally:
        context.close()


def test_sessions_do_not_share_history(browser: Any, ui_server: str) -> None:
    from playwright.sync_api import expect

    first, page_a, _ = _open(browser, ui_server)
    second, page_b, _ = _open(browser, ui_server)
    try:
        _ask(page_a, "What did South Korea do in response?")
        expect(page_a.locator("#chat .ga-answer")).to_have_count(1)
        page_b.reload()
        page_b.locator("#question textarea").wait_for(timeout=TIMEOUT_MS)
        expect(page_b.locator("#chat .ga-answer")).to_have_count(0)
        expect(page_b.locator("#chat")).not_to_contain_text("South Korea")
        # B's first question is not treated as a follow-up to A's
        answer = _ask(page_b, "And what did Russia say?")
        expect(answer.locator(".ga-query")).to_have_count(0)
        expect(page_b.locator("#chat .ga-answer")).to_have_count(1)

        # the chat's own trash button forgets A's conversation too: the next question stands alone
        page_a.locator("#chat button[aria-label='Clear']").click()
        expect(page_a.locator("#chat .ga-answer")).to_have_count(0)
        alone = _ask(page_a, "And what did Russia say?")
        expect(alone.locator(".ga-query")).to_have_count(0)
        expect(page_a.locator("#chat .ga-answer")).to_have_count(1)
    finally:
        first.close()
        second.close()


# -- issue 12: the source viewer, scoped questions, the answer footer and keyboard submit ----------

def _cited(answer: Any) -> list[str]:
    """The ``[n] file name`` lines of an answer's sources list."""
    return [t.strip() for t in answer.locator(".ga-source summary").all_text_contents()]


def test_citation_opens_the_viewer_at_the_highlighted_quote_and_copy_gives_markdown(browser: Any,
                                                                                  ui_server: str) -> None:
    from playwright.sync_api import expect

    context, page, outside = _open(browser, ui_server)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        box = page.locator("#question textarea")
        box.fill("What did South Korea")
        box.press("Shift+Enter")  # a newline, not a submit
        expect(box).to_have_value("What did South Korea\n")
        box.fill("What did South Korea do in response?")
        box.press("Enter")  # submits
        answer = page.locator("#chat .ga-answer:not(.ga-streaming)").first
        expect(answer.locator(".ga-meta")).to_contain_text(" s · extractive", timeout=TIMEOUT_MS)
        quote = answer.locator(".ga-source blockquote").first.text_content() or ""

        # [1] in the answer text opens the viewer, scrolled to the marked quote, with its neighbours
        answer.locator(".ga-text a.ga-open").first.click()
        mark = page.locator("#viewer mark#ga-quote")
        expect(mark).to_have_text(quote, timeout=TIMEOUT_MS)
        expect(mark).to_be_in_viewport()
        expect(page.locator("#viewer h3")).to_have_text("north-korean-troops-in-ukraine.txt")
        expect(page.locator("#viewer .ga-doc")).to_contain_text("One of the most pressing concerns")  # paragraph before
        page.keyboard.press("Escape")
        expect(page.locator("#viewer")).to_be_hidden()

        # [1] in the sources list opens it too (without toggling the quote)
        answer.locator(".ga-source .ga-num a.ga-open").first.click()
        expect(mark).to_have_text(quote, timeout=TIMEOUT_MS)
        expect(answer.locator(".ga-source blockquote").first).to_be_hidden()
        page.locator("#viewer-close").click()
        expect(page.locator("#viewer")).to_be_hidden()

        # Copy puts the answer and its numbered sources on the clipboard as Markdown
        answer.locator("button.ga-copy").click()
        expect(answer.locator("button.ga-copy")).to_have_text("Copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        text = answer.locator(".ga-text").text_content() or ""
        assert copied.startswith(" ".join(text.split())) and "\n\n**Sources**\n\n- [1] north-korean" in copied
        assert outside == [], f"the page made requests off loopback: {outside}"
    finally:
        context.close()


def test_scoped_question_cites_only_the_chosen_document(browser: Any, ui_server: str, ui_services: Any,
                                                        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    notes = tmp_path / "harbour-log.txt"
    notes.write_text("The harbour master of Port Elwin logged forty-two ferries in March.", encoding="utf-8")
    doc_id = ui_services.ingestor.ingest([notes]).document_ids[0]
    context, page, _ = _open(browser, ui_server)
    try:
        expect(page.locator("#scope-status")).to_have_text("Asking: all documents")
        page.locator("#scope").get_by_text("Choose documents to ask").click()
        page.locator("#scope-docs input").click()
        page.get_by_role("option", name="harbour-log.txt").click()
        expect(page.locator("#scope-status")).to_have_text("Asking: 1 document: harbour-log.txt", timeout=TIMEOUT_MS)

        # the article answers this when every document is asked (first test); scoped, it is never cited
        korea = _ask(page, "What did South Korea do in response?")
        assert all("harbour-log.txt" in name for name in _cited(korea)), _cited(korea)
        ferries = _ask(page, "How many ferries did the harbour master log?")
        assert _cited(ferries) and all("harbour-log.txt" in name for name in _cited(ferries)), _cited(ferries)
    finally:
        context.close()
        ui_services.ingestor.delete(doc_id)


def test_thumbs_store_the_vote_and_the_note(browser: Any, ui_server: str, ui_services: Any) -> None:
    """Vote on an answer with the chat's thumbs, then send a note naming the right passage: both are stored."""
    from playwright.sync_api import expect

    from assistant.feedback import FeedbackStore

    context, page, _ = _open(browser, ui_server)
    try:
        _ask(page, "Who is Ukraine's Defense Minister?")
        _ask(page, "What did South Korea do in response?")
        thumbs_down = page.locator("#chat button[aria-label='Dislike']")
        expect(thumbs_down).to_have_count(2)  # one under each answer
        thumbs_down.nth(1).click()
        status = page.locator("#feedback-status")
        expect(status).to_contain_text("your thumbs-down is stored", timeout=TIMEOUT_MS)
        store = FeedbackStore(ui_services.settings.feedback_path)
        [record] = [r for r in store.records() if r.question == "What did South Korea do in response?"]
        assert record.vote == "down" and record.passage is None and record.citations

        passage = "President Volodymyr Zelensky’s calls for collective action"
        page.locator("#feedback-note textarea").fill(f'Wrong passage; the right one: "{passage}"')
        page.locator("#feedback-send").click()
        expect(status).to_contain_text("right passage was found in north-korean-troops-in-ukraine.txt",
                                       timeout=TIMEOUT_MS)
        [record] = [r for r in store.records() if r.question == "What did South Korea do in response?"]
        assert record.vote == "down" and record.passage is not None and record.passage.quote == passage
        assert record.note.startswith("Wrong passage") and record.generation == ui_services.store.generation()
    finally:
        context.close()
