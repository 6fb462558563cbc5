"""One key for everything, in a real browser: with ``api_key`` set, nothing of the UI is reachable
before signing in with the key; after it, asking, uploading, listing and deleting work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import serve_in_thread

from assistant.api.app import create_app
from assistant.services import Services
from assistant.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "browser-test-key-0123456789"
TIMEOUT_MS = 60_000
PROBES = """async () => {
  const out = {};
  for (const [m, p] of [["GET", "/config"], ["GET", "/gradio_api/info"], ["POST", "/gradio_api/upload"],
                        ["POST", "/gradio_api/queue/join"], ["GET", "/v1/documents"]]) {
    out[m + " " + p] = (await fetch(p, {method: m, redirect: "manual"})).status;
  }
  return out;
}"""


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, embedder: Any, copy_sample_index: Any) -> Iterator[str]:
    settings = Settings(data_dir=copy_sample_index(tmp_path_factory.mktemp("ui-auth") / "data"),
                        llm={"backend": "extractive"}, api_key=KEY)
    services = Services(settings, embedder=embedder)
    with serve_in_thread(create_app(services), lifespan="on") as url:
        yield url


def test_nothing_is_reachable_without_the_key_and_everything_with_it(browser: Any, keyed_server: str,
                                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(keyed_server + "/", wait_until="domcontentloaded")
        assert page.url.endswith("/login")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#question")).to_have_count(0)
        refused = page.evaluate(PROBES)
        assert all(status == 401 for status in refused.values()), refused

        page.locator("#key").fill("a-wrong-key-of-length")
        page.locator("#login button").click()
        expect(page.locator(".error")).to_contain_text("Wrong key")
        assert "a-wrong-key-of-length" not in page.content()

        page.locator("#key").fill(KEY)
        page.locator("#login button").click()
        page.locator("#question textarea").wait_for(timeout=TIMEOUT_MS)
        assert KEY not in page.content()
        assert "assistant_session" not in page.evaluate("document.cookie")  # HttpOnly

        # list (on load), ask, upload, delete: all through Gradio's routes, with the session
        expect(page.locator("#documents")).to_contain_text("north-korean-troops-in-ukraine.txt", timeout=TIMEOUT_MS)
        page.locator("#question textarea").fill("What did South Korea do in response?")
        page.locator("#ask").click()
        expect(page.locator("#chat .ga-answer:not(.ga-streaming)")).to_contain_text(
            "South Korea", timeout=TIMEOUT_MS)
        notes = tmp_path / "lighthouse-notes.txt"
        notes.write_text("The lighthouse keeper of Port Elwin logged nine storms in April.", encoding="utf-8")
        page.locator("#upload input[type=file]").set_input_files([str(notes)])
        expect(page.locator("#ingest-report")).to_contain_text("1 added", timeout=TIMEOUT_MS)
        expect(page.locator("#documents")).to_contain_text("lighthouse-notes.txt", timeout=TIMEOUT_MS)
        page.locator("#delete-choice input").click()
        page.get_by_role("option", name="lighthouse-notes.txt").click()
        page.locator("#delete").click()
        expect(page.locator("#ingest-report")).to_contain_text("Deleted document", timeout=TIMEOUT_MS)
        expect(page.locator("#documents")).not_to_contain_text("lighthouse-notes.txt", timeout=TIMEOUT_MS)
        # the session opens the UI's routes, not /v1 (which needs the bearer key)
        allowed = page.evaluate(PROBES)
        assert allowed["GET /config"] == 200 and allowed["GET /v1/documents"] == 401, allowed

        page.goto(keyed_server + "/logout")
        assert page.url.endswith("/login")
        assert page.evaluate(PROBES)["GET /config"] == 401
    finally:
        context.close()
