"""Loaders: a file in, its extracted text out (plus page spans for PDFs), or a ``BadDocument`` that
says in one line what is wrong with the file.

Example::

    doc = load_file(Path("report.pdf"), max_bytes=25 * 2**20)
    doc.text, doc.title, doc.pages   # pages: [(start, end, page_number), ...]
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from assistant.errors import BadDocument, DocumentTooLarge, UnsupportedFormat

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")


@dataclass
class LoadedDocument:
    text: str
    title: str
    pages: list[tuple[int, int, int]] = field(default_factory=list)

    def page_at(self, offset: int) -> int:
        for start, end, page in self.pages:
            if start <= offset < end:
                return page
        return 0


def admit(name: str, size: int, max_bytes: int) -> None:
    """The one rule for which files may be ingested: a supported type, at most ``max_bytes``.

    Checked before a file is read (paths) or stored (uploads). Raises ``UnsupportedFormat`` (415)
    or ``DocumentTooLarge`` (413).
    """
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnsupportedFormat(f"unsupported file type {suffix or '(none)'!r}; supported: {', '.join(SUPPORTED)}")
    if size > max_bytes:
        raise DocumentTooLarge(f"file is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit")


@dataclass(frozen=True)
class Bounds:
    """What one document may cost to read; past a bound it is refused with a message naming the bound.

    ``max_pages``: PDF pages (thousands of empty pages cost minutes); ``max_unzipped_bytes``: the
    declared unpacked size of a DOCX (a zip bomb is refused before anything is unpacked, and zipfile
    never reads past a declared size); ``max_chars``: the extracted text (a 5 MB single line is
    tens of thousands of chunks to embed).
    """

    max_pages: int = 2000
    max_unzipped_bytes: int = 100 * 2**20
    max_chars: int = 2_000_000


def load_file(path: Path, max_bytes: int, data: bytes | None = None, bounds: Bounds = Bounds()) -> LoadedDocument:
    """Extract the text of ``path`` (or of ``data``, named ``path``). Raises ``BadDocument``."""
    if data is None:
        try:
            admit(path.name, path.stat().st_size, max_bytes)
            data = path.read_bytes()
        except OSError as exc:
            raise BadDocument(f"cannot read file: {exc.strerror or exc}") from exc
    admit(path.name, len(data), max_bytes)
    suffix = path.suffix.lower()
    if not data.strip():
        raise BadDocument("file is empty")
    if suffix == ".pdf":
        doc = _pdf(data, bounds.max_pages)
    elif suffix == ".docx":
        doc = _docx(data, bounds.max_unzipped_bytes)
    elif suffix in (".html", ".htm"):
        doc = _html(decode_text(data))
    else:
        doc = LoadedDocument(text=_normalise(decode_text(data)), title="")
    if not doc.text.strip():
        raise BadDocument("no text could be extracted")
    if len(doc.text) > bounds.max_chars:
        raise DocumentTooLarge(f"the extracted text has {len(doc.text):,} characters, over the limit of "
                               f"{bounds.max_chars:,} (ASSISTANT_INGEST__MAX_CHARS)")
    doc.title = doc.title or _first_line(doc.text) or path.stem
    return doc


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252/Latin-1; binary data is refused."""
    if b"\x00" in data[:8192]:
        raise BadDocument("binary content (NUL bytes), not a text file")
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.02 * min(len(text), 8192):
        raise BadDocument("binary content (control characters), not a text file")
    return text


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip().lstrip("#").strip()
    return line[:120] if len(line) <= 120 else ""


def _pdf(data: bytes, max_pages: int) -> LoadedDocument:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise BadDocument("PDF is encrypted")
        if len(reader.pages) > max_pages:
            raise DocumentTooLarge(f"PDF has {len(reader.pages):,} pages, over the limit of {max_pages:,} "
                                   "(ASSISTANT_INGEST__MAX_PAGES)")
        parts: list[str] = []
        pages: list[tuple[int, int, int]] = []
        offset = 0
        for number, page in enumerate(reader.pages, start=1):
            text = _normalise(page.extract_text() or "")
            if not text:
                continue
            if parts:
                offset += 2
            pages.append((offset, offset + len(text), number))
            parts.append(text)
            offset += len(text)
        title = ""
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip()
    except BadDocument:
        raise
    except Exception as exc:  # pypdf on a damaged file also raises NotImplementedError, LimitReachedError, ...
        raise BadDocument(f"corrupt or unreadable PDF: {type(exc).__name__}: {exc}") from exc
    if not parts:
        raise BadDocument("PDF has no extractable text (scanned images need OCR, which is not supported)")
    return LoadedDocument(text="\n\n".join(parts), title=title, pages=pages)


def _docx(data: bytes, max_unzipped_bytes: int) -> LoadedDocument:
    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise BadDocument(f"corrupt or unreadable DOCX: {type(exc).__name__}: {exc}") from exc
    if unpacked > max_unzipped_bytes:
        raise DocumentTooLarge(f"DOCX unpacks to {unpacked / 2**20:,.0f} MB, over the limit of "
                               f"{max_unzipped_bytes / 2**20:,.0f} MB (ASSISTANT_INGEST__MAX_UNZIPPED_MB)")
    try:
        document = docx.Document(io.BytesIO(data))
        paras = [p.text.strip() for p in document.paragraphs if p.text.strip()]
        for table in document.tables:
            for row in table.rows:
                cells = [c.text.strip() for c in row.cells if c.text.strip()]
                if cells:
                    paras.append(" | ".join(cells))
        title = (document.core_properties.title or "").strip()
    except Exception as exc:  # a damaged DOCX raises BadZipFile, lxml XMLSyntaxError, AttributeError, ...
        raise BadDocument(f"corrupt or unreadable DOCX: {type(exc).__name__}: {exc}") from exc
    return LoadedDocument(text="\n\n".join(paras), title=title)


_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
    "article", "header", "footer", "blockquote", "pre", "dd", "dt", "figcaption", "main", "aside", "nav",
}
_HIDDEN = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self.parts.append(data)


def _html(markup: str) -> LoadedDocument:
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    text = "\n\n".join(line for line in lines if line)
    return LoadedDocument(text=text, title=re.sub(r"\s+", " ", parser.title).strip())
