"""Test helper: CLAP NQ passages written as one .txt file each."""

from pathlib import Path


def write_passages(folder: Path, passages: list[tuple[str, str]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (title, text) in enumerate(passages):
        path = folder / f"passage-{i:03d}.txt"
        path.write_text(f"{title}\n\n{text}", encoding="utf-8")
        paths.append(path)
    return paths
