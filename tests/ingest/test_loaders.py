"""ingest/loaders.py: every supported format yields its text (PDF with page spans); every bad file
raises a ``BadDocument`` whose message is one line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from assistant.errors import BadDocument, DocumentTooLarge, UnsupportedFormat
from ingest.loaders import decode_text, load_file

MB = 2**20


HTML = """<!doctype html>
<html><head><title>Tide  tables</title>
<style>body { color: red; } .secret-style {}</style>
<script>var secretScript = "do not index me";</script></head>
<body><nav>Home</nav>
<h1>Spring tides</h1>
<p>Spring tides happen near the new and full moon &amp; are the strongest.</p>
<noscript>enable javascript please</noscript>
<div>Neap tides<br>are the weakest.</div>
<script type="application/ld+json">{"hidden": true}</script>
</body></html>
"""


def _load(path: Path, max_mb: float = 25):  # noqa: ANN202
    return load_file(path, int(max_mb * MB))


def _one_line(exc: BadDocument) -> str:
    assert exc.message and "\n" not in exc.message, repr(exc.message)
    return exc.message


# -- formats ---------------------------------------------------------------------------------------

def test_txt_utf8_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffFirst line\r\nSecond line — ünïcode\r\n\r\n\r\n\r\nThird".encode())
    doc = _load(path)
    assert doc.text == "First line\nSecond line — ünïcode\n\nThird"
    assert doc.title == "First line"
    assert doc.pages == []


def test_markdown_title_from_heading(tmp_path: Path) -> None:
    path = tmp_path / "readme.md"
    path.write_text("# Glaciers\n\nGlaciers move slowly.\n", encoding="utf-8")
    doc = _load(path)
    assert doc.title == "Glaciers"
    assert "Glaciers move slowly." in doc.text


def test_html_keeps_only_visible_text(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = _load(path)
    assert doc.title == "Tide tables"
    assert "Spring tides happen near the new and full moon & are the strongest." in doc.text
    assert "Neap tides" in doc.text and "are the weakest." in doc.text
    for hidden in ("secretScript", "do not index me", "color: red", "secret-style", "enable javascript",
                   '"hidden"', "<p>", "&amp;"):
        assert hidden not in doc.text


def test_htm_suffix_is_html(tmp_path: Path) -> None:
    path = tmp_path / "PAGE.HTM"
    path.write_text("<html><body><p>Visible</p><script>invisible()</script></body></html>", encoding="utf-8")
    assert _load(path).text == "Visible"


def test_pdf_text_and_page_spans(tmp_path: Path, make_pdf) -> None:
    pages = ["Auroras follow geomagnetic storms on the first page.",
             "Arctic terns migrate from pole to pole on the second page."]
    doc = _load(make_pdf(tmp_path / "polar.pdf", pages, title="Polar notes"))
    assert doc.title == "Polar notes"
    assert len(doc.pages) == 2
    for (start, end, number), expected in zip(doc.pages, pages, strict=True):
        assert doc.text[start:end] == expected
        assert doc.page_at(start) == number == pages.index(expected) + 1
    assert doc.page_at(doc.pages[1][0] + 5) == 2
    assert doc.page_at(len(doc.text) + 10) == 0


def test_pdf_without_title_falls_back_to_first_line(tmp_path: Path, make_pdf) -> None:
    doc = _load(make_pdf(tmp_path / "untitled.pdf", ["Only page text here."]))
    assert doc.title == "Only page text here."


def test_docx_paragraphs_tables_and_title(tmp_path: Path, make_docx) -> None:
    path = make_docx(tmp_path / "islands.docx", ["Volcanic islands form over hot spots.", "", "Atolls ring lagoons."],
                     title="Islands", table=[["Island", "Height"], ["Hawaii", "4207 m"]])
    doc = _load(path)
    assert doc.title == "Islands"
    assert doc.text == "Volcanic islands form over hot spots.\n\nAtolls ring lagoons.\n\nIsland | Height\n\nHawaii | 4207 m"


def test_latin1_and_cp1252_are_decoded_not_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Café crème brûlée, naïve façade — “quoted”.".encode("cp1252"))
    assert _load(path).text == "Café crème brûlée, naïve façade — “quoted”."
    # bytes undefined in cp1252 (0x81, 0x8d) still decode as Latin-1
    assert decode_text(b"na\xefve \x81 caf\xe9") == "na\u00efve \x81 caf\u00e9"


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"   \n\n\t  "])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(BadDocument) as err:
        _load(path)
    assert _one_line(err.value) == "file is empty"


def test_binary_named_txt(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(BadDocument) as err:
        _load(path)
    assert "binary" in _one_line(err.value)


def test_binary_without_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.md"
    path.write_bytes(bytes(b for b in range(1, 32) if b not in (9, 10, 12, 13)) * 200)
    with pytest.raises(BadDocument) as err:
        _load(path)
    assert "binary" in _one_line(err.value)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UnsupportedFormat) as err:
        _load(path)
    assert "'.csv'" in _one_line(err.value)


def test_file_over_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 60_000)  # ~0.29 MB
    with pytest.raises(DocumentTooLarge) as err:
        _load(path, max_mb=0.1)
    assert "over the" in _one_line(err.value)
    with pytest.raises(DocumentTooLarge):
        load_file(path, int(0.1 * MB), data=path.read_bytes())


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(BadDocument) as err:
        _load(tmp_path / "missing.txt")
    assert _one_line(err.value).startswith("cannot read file")


def _rezip(good: bytes, mangle_document_xml) -> bytes:  # noqa: ANN001
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in src.namelist():
            data = src.read(name)
            if name == "word/document.xml":
                data = mangle_document_xml(data)
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(("kind", "mangle"), [
    pytest.param("pdf", lambda good: b"%PDF-1.4\n this is not really a pdf \x00\x01" * 20, id="pdf-garbage"),
    pytest.param("pdf", lambda good: good[: len(good) // 2], id="pdf-truncated"),
    # Regression: pypdf raises NotImplementedError for an unknown filter, which used to escape
    # the loader and abort the whole ingest run.
    pytest.param("pdf", lambda good: good.replace(b"/FlateDecode", b"/FlateDecodX"), id="pdf-unknown-filter"),
    pytest.param("docx", lambda good: b"PK\x03\x04 not really a zip file", id="docx-not-a-zip"),
    pytest.param("docx", lambda good: _zip_without_content_types(), id="docx-zip-not-docx"),
    # Regression: malformed XML inside a valid zip raised lxml's XMLSyntaxError, which used to
    # escape the loader and abort the whole ingest run.
    pytest.param("docx", lambda good: _rezip(good, lambda xml: xml[:200] + b"<<<" + xml[200:]), id="docx-bad-xml"),
])
def test_corrupt_pdf_or_docx(tmp_path: Path, kind: str, mangle, make_pdf, make_docx) -> None:  # noqa: ANN001
    make = make_pdf if kind == "pdf" else make_docx
    good = make(tmp_path / f"good.{kind}", ["Some text."]).read_bytes()
    path = tmp_path / f"corrupt.{kind}"
    path.write_bytes(mangle(good))
    with pytest.raises(BadDocument) as err:
        _load(path)
    assert kind.upper() in _one_line(err.value)


def _zip_without_content_types() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    return out.getvalue()


def test_pdf_without_text_layer(tmp_path: Path, make_pdf) -> None:
    path = make_pdf(tmp_path / "blank.pdf", [""])
    with pytest.raises(BadDocument) as err:
        _load(path)
    assert "no extractable text" in _one_line(err.value)


def test_bounds_refuse_with_the_setting_named(tmp_path: Path, make_pdf, make_docx) -> None:  # noqa: ANN001
    from ingest.loaders import Bounds

    cases = [
        (make_pdf(tmp_path / "long.pdf", ["one", "two", "three"]), Bounds(max_pages=2), "PDF has 3 pages"),
        (make_docx(tmp_path / "big.docx", ["x" * 5000]), Bounds(max_unzipped_bytes=2000), "DOCX unpacks to"),
    ]
    text = tmp_path / "long.txt"
    text.write_text("word " * 500)
    cases.append((text, Bounds(max_chars=1000), "2,499 characters, over the limit of 1,000"))
    for path, bounds, message in cases:
        with pytest.raises(DocumentTooLarge) as err:
            load_file(path, max_bytes=2**20, bounds=bounds)
        assert message in _one_line(err.value) and "ASSISTANT_INGEST__MAX_" in err.value.message
        assert load_file(path, max_bytes=2**20).text  # within the default bounds it loads
