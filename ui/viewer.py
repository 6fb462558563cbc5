"""The source viewer: a click on a citation (``[n]`` in an answer, or in its sources list) opens a side
panel with the cited document's text around the passage, the quote highlighted and scrolled to.

Citation links carry their target in ``href`` (``ui.render.cite_link``). ``PAGE_JS``, run once on page
load, catches clicks on them (and on the answers' "Copy" buttons) anywhere in the page, stores the
target in ``window.gaCite`` and clicks a hidden button, whose ``js=`` passes that target to
``open_source``: one Python callback per click, no polling, no custom component.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.errors import AssistantError, DocumentNotFound
from ui.render import parse_cite, render_passage, render_viewer_error

if TYPE_CHECKING:
    from assistant.services import Services

VIEWER_CONTEXT = 1500  # characters each side: the neighbouring paragraphs

# Runs once per page load (demo.load js=). Capture phase, so the Chatbot never follows the link and a
# click on "[n]" inside a <summary> does not toggle the quote. Escape closes the viewer.
PAGE_JS = """() => {
  if (window.gaInstalled) return;
  window.gaInstalled = true;
  const copy = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) {
      const area = document.createElement('textarea');
      area.value = text; area.style.position = 'fixed'; area.style.opacity = '0';
      document.body.appendChild(area); area.select();
      const ok = document.execCommand('copy'); area.remove(); return ok;
    }
  };
  document.addEventListener('click', async (event) => {
    const link = event.target.closest && event.target.closest('a.ga-open');
    if (link) {
      event.preventDefault(); event.stopPropagation();
      window.gaCite = link.getAttribute('href');
      document.querySelector('#viewer-open')?.click();
      return;
    }
    const button = event.target.closest && event.target.closest('button.ga-copy');
    if (button) {
      event.preventDefault(); event.stopPropagation();
      const md = button.closest('.ga-answer')?.querySelector('pre.ga-md')?.textContent || '';
      const ok = await copy(md);
      button.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    }
  }, true);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') document.querySelector('#viewer-close')?.click();
  });
}"""
TARGET_JS = "(ref) => window.gaCite || ref"
# Scroll the viewer's own scroll box (not the page) so the quote sits a third of the way down.
SCROLL_JS = """() => { setTimeout(() => {
  const box = document.querySelector('#viewer-body'), mark = document.querySelector('#viewer #ga-quote');
  if (!box || !mark) return;
  box.scrollTop += mark.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
}, 50); }"""


def open_source(services: Services, ref: str | None) -> str:
    """The viewer's HTML for a citation link target (``#cite:<doc_id>:<start>:<end>``)."""
    target = parse_cite(ref)
    if target is None:
        return render_viewer_error("That link does not point at a passage of a document.")
    doc_id, start, end = target
    try:
        return render_passage(services.ingestor.passage(doc_id, start, end, VIEWER_CONTEXT))
    except DocumentNotFound:
        return render_viewer_error("This document is no longer indexed (it was deleted).")
    except AssistantError as exc:
        return render_viewer_error(f"{exc.message} (the document may have changed since this answer).")
