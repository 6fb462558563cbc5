"""Hostile documents in a real browser: quotes with HTML, scripts, markdown images and external links
render as inert text; no script runs and no request leaves loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from hostile import QUESTIONS, write_hostile_corpus
from servers import serve_in_thread

from assistant.api.app import create_app
from assistant.services import Services
from assistant.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_MS = 60_000
ACTIVE = "#chat img, #chat script, #chat iframe, #chat a[href^='javascript'], #chat a[href*='evil.example']"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[str]:
    root = tmp_path_factory.mktemp("hostile-ui")
    services = Services(Settings(data_dir=root / "data", llm={"backend": "extractive"}), embedder=embedder)
    assert services.ingestor.ingest([write_hostile_corpus(root / "docs")]).ok
    with serve_in_thread(create_app(services), lifespan="on") as url:
        yield url


def test_hostile_quotes_render_inert(browser: Any, hostile_server: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if urlparse(r.url).hostname not in ("127.0.0.1", "localhost") and not r.url.startswith("data:")
            else None)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(hostile_server + "/", wait_until="domcontentloaded")
        page.locator("#question textarea").wait_for(timeout=TIMEOUT_MS)
        for name in ("karsk-lighthouse.md", "port-elwin-harbour.txt"):
            before = page.locator("#chat .ga-answer:not(.ga-streaming)").count()
            page.locator("#question textarea").fill(QUESTIONS[name][0])
            page.locator("#ask").click()
            answer = page.locator("#chat .ga-answer:not(.ga-streaming)").nth(before)
            expect(answer).to_contain_text(QUESTIONS[name][1], timeout=TIMEOUT_MS)
            for summary in answer.locator(".ga-source summary").all():
                summary.click()  # open every quote
            # citation superscripts are exactly the citations (fake [1]/[2] in the text are not markers)
            assert answer.locator("sup.ga-cite").count() >= 1
            assert {t.strip("[]") for t in answer.locator("sup.ga-cite").all_inner_texts()} == {
                t.strip("[]") for t in answer.locator(".ga-source .ga-num").all_inner_texts()}
        lighthouse = page.locator("#chat .ga-answer").first
        expect(lighthouse.locator(".ga-source blockquote").first).to_contain_text("<script>")  # shown as text
        expect(lighthouse).to_contain_text("![tracker](http://evil.example/tracker.png)")
        page.wait_for_timeout(500)
        assert page.locator(ACTIVE).count() == 0, page.locator(ACTIVE).evaluate_all("els => els.map(e => e.outerHTML)")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert dialogs == [] and outside == [], (dialogs, outside)
    finally:
        context.close()
