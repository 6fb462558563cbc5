"""FolderWatcher: keep the index in sync with folders, incrementally (``assistant ingest PATH --watch``,
``assistant serve --watch PATH``).

It starts watching (``watchfiles``), then makes one full pass (an ingest with ``prune``: what changed
while nobody watched), then applies each debounced batch of file events through the same
``IngestService`` as every ingest, so the crash-safe commit protocol holds: changed or new files are
ingested (unchanged ones are skipped by their hash), deleted files' documents are deleted, a rename is a
delete plus an add. One line per change goes to ``emit``: ``added a.txt (12 chunks)``, ``updated a.txt
(12 chunks)``, ``removed b.md``, ``failed c.pdf: reason``. A bad file is reported and skipped; an
index that cannot be reached is reported and its batch retried with the next one. Hidden files and
folders (a name starting with ".") and files of unsupported types are ignored.

Example::

    watcher = FolderWatcher(services.ingestor, [Path("docs")], debounce_ms=500, emit=print)
    watcher.start()          # a background thread (the server); or watcher.run() to block (the CLI)
    ...
    watcher.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles import Change, DefaultFilter, watch

from assistant.errors import AssistantError, BadRequest, DocumentNotFound
from assistant.schema import DocumentInfo, IngestReport
from ingest.loaders import SUPPORTED
from ingest.pipeline import IngestService

log = logging.getLogger(__name__)
LogLine = Callable[[str], None]
POLL_MS = 200  # how often the watch loop wakes up without changes (the first wake-up starts the full pass)


class FolderWatcher:
    def __init__(self, ingestor: IngestService, paths: Iterable[Path], *, debounce_ms: int = 500,
                 emit: LogLine | None = None) -> None:
        given_paths = [Path(p) for p in paths]
        self.roots = [p.resolve() for p in given_paths]
        if not self.roots:
            raise BadRequest("--watch needs at least one folder")
        for given, root in zip(given_paths, self.roots, strict=True):
            if not root.is_dir():
                raise BadRequest(f"cannot watch {given}: not a folder (--watch keeps folders in sync)")
        if debounce_ms < 1:
            raise ValueError(f"debounce_ms must be at least 1, got {debounce_ms}")
        self.ingestor = ingestor
        self.debounce_ms = debounce_ms
        self.emit: LogLine = emit or log.info
        self.ready = threading.Event()  # set once the full pass is done and changes are being applied
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: set[Path] = set()  # paths of a batch that failed as a whole, retried with the next
        self._filter = DefaultFilter()

    # -- running --------------------------------------------------------------------------------
    def run(self, *, progress: bool = False) -> None:
        """Watch until ``stop()`` (or Ctrl-C in the main thread): the full pass first, then each batch."""
        synced = False
        for changes in watch(*self.roots, watch_filter=self._wanted, debounce=10 * self.debounce_ms,
                             step=self.debounce_ms, stop_event=self._stop, rust_timeout=POLL_MS,
                             yield_on_timeout=True, raise_interrupt=True):
            if not synced:  # the watcher is live now: changes from here on are caught, so scan once
                self._guarded(self.sync, progress)
                synced = True
                self.ready.set()
                continue
            paths = {Path(p) for _, p in changes} | self._pending
            if paths:
                self._pending = set()
                if not self._guarded(self.apply, paths):
                    self._pending = paths

    def start(self) -> threading.Thread:
        """Run in a daemon thread (the server's lifespan starts and stops it)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_logged, name="folder-watcher", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:  # noqa: BLE001 - a dying background thread must say why
            log.exception("the folder watcher stopped")
            self.emit("watch stopped after an unexpected error; the server log has the details")

    def _guarded(self, step: Callable[..., object], *args: object) -> bool:
        try:
            step(*args)
            return True
        except AssistantError as exc:  # e.g. the Chroma server is down: say so, retry with the next batch
            self.emit(f"failed: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - keep watching; the log keeps the trace
            log.exception("the folder watcher could not apply a batch")
            self.emit(f"failed: {type(exc).__name__}: {exc}")
        return False

    # -- applying changes -----------------------------------------------------------------------
    def sync(self, progress: bool = False) -> IngestReport:
        """One full pass over the folders: ingest what is new or changed, prune what is gone."""
        before = self.ingestor.store.docs()
        report = self.ingestor.ingest(self.roots, prune=True, progress=progress)
        after = self.ingestor.store.docs()
        for doc in before.values():
            if doc.id not in after and self._root_of(Path(doc.source)) is not None:
                self.emit(f"removed {self._name(doc.source)}")
        self._report(report, before, after)
        return report

    def apply(self, paths: Iterable[Path]) -> IngestReport:
        """Apply one batch of changed paths: delete the documents of paths that are gone (files or whole
        folders), ingest the files and folders that exist."""
        before = self.ingestor.store.docs()
        present, gone = [], []
        for p in sorted(set(paths)):
            if self._root_of(p) is None or self._hidden(p):
                continue
            if p.is_dir():
                present.append(p)
            elif p.is_file():
                if p.suffix.lower() in SUPPORTED:
                    present.append(p)
            else:
                gone.append(p)
        for doc in self._documents_under(before, gone):
            try:
                self.ingestor.delete(doc.id)
                self.emit(f"removed {self._name(doc.source)}")
            except DocumentNotFound:  # deleted meanwhile (an upload replaced, another process): nothing to do
                continue
        # keyed relative to the watched folders, as in the full pass: a changed file keeps its id
        report = self.ingestor.ingest(present, within=self.roots) if present else IngestReport()
        self._report(report, before, self.ingestor.store.docs() if present else before)
        return report

    def _report(self, report: IngestReport, before: dict[str, DocumentInfo], after: dict[str, DocumentInfo]) -> None:
        for doc_id in dict.fromkeys(report.document_ids):  # these include unchanged documents
            doc, old = after.get(doc_id), before.get(doc_id)
            if doc is not None and (old is None or old.version != doc.version):
                verb = "updated" if old is not None else "added"
                self.emit(f"{verb} {self._name(doc.source)} ({doc.chunks} chunk{'s' if doc.chunks != 1 else ''})")
        for failure in report.failures:
            self.emit(f"failed {self._name(failure.path)}: {failure.reason}")

    # -- paths ----------------------------------------------------------------------------------
    def _wanted(self, change: Change, path: str) -> bool:
        return self._filter(change, path) and not self._hidden(Path(path))

    def _root_of(self, path: Path) -> Path | None:
        path = path.resolve()
        return next((r for r in self.roots if r == path or r in path.parents), None)

    def _hidden(self, path: Path) -> bool:
        root = self._root_of(path)
        return root is not None and any(part.startswith(".") for part in path.resolve().relative_to(root).parts)

    def _documents_under(self, docs: dict[str, DocumentInfo], gone: list[Path]) -> list[DocumentInfo]:
        targets = [p.resolve() for p in gone]
        return [d for d in docs.values()
                if any(Path(d.source) == t or t in Path(d.source).parents for t in targets)]

    def _name(self, source: str) -> str:
        """A path as the user knows it: relative to its watched folder."""
        path = Path(source)
        root = self._root_of(path)
        return str(path.resolve().relative_to(root)) if root is not None and root != path.resolve() else path.name
