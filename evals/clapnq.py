"""CLAP NQ dev (Rosenthal et al. 2024, Apache-2.0; text from Wikipedia, CC BY-SA): the shipped copy
in ``evals/data/clapnq_dev.jsonl`` and the pooled passage corpus built from it.

``python -m evals.clapnq --build ../shared/data/clapnq_dev`` regenerates the shipped file from the
original release (fields kept: id, question, title, passage, answers, answerable).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SHIPPED = "clapnq_dev.jsonl"


@dataclass(frozen=True)
class ClapItem:
    id: str
    question: str
    title: str
    passage: str
    answers: tuple[str, ...]
    answerable: bool

    @property
    def filename(self) -> str:
        """The corpus file holding this item's passage (its gold passage when answerable)."""
        return f"clapnq-{self.id.lstrip('-')}{'n' if self.id.startswith('-') else ''}.txt"

    @property
    def document_text(self) -> str:
        return f"{self.title}\n\n{self.passage.strip()}\n"


def load_clapnq() -> list[ClapItem]:
    """All 600 items: 300 answerable, then 300 unanswerable, in the release's order."""
    path = resources.files("evals") / "data" / SHIPPED
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        items.append(ClapItem(d["id"], d["question"], d["title"], d["passage"], tuple(d["answers"]), d["answerable"]))
    return items


def write_corpus(items: list[ClapItem], folder: Path) -> Path:
    """Write each distinct passage as one .txt file (all passages pooled as one corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in items:
        (folder / item.filename).write_text(item.document_text, encoding="utf-8")
    return folder


def _build(source: Path, out: Path) -> None:
    rows = []
    for name, answerable in (("clapnq_dev_answerable.jsonl", True), ("clapnq_dev_unanswerable.jsonl", False)):
        for line in (source / name).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            p = d["passages"][0]
            answers = [o["answer"] for o in d.get("output", []) if o.get("answer")] if answerable else []
            rows.append({"id": d["id"], "question": d["input"], "title": p["title"], "passage": p["text"],
                         "answers": answers, "answerable": answerable})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} items to {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, required=True, help="folder of the original CLAP NQ dev files")
    args = ap.parse_args()
    _build(args.build, Path(__file__).parent / "data" / SHIPPED)
