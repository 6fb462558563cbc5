"""The import layering of the code base (README, "Architecture"), checked on the source with ``ast``.

    entry        assistant.cli, assistant.__main__, ingest.__main__
    surfaces     assistant.api, ui, evals, assistant.console
    composition  assistant.services
    engine       assistant.engine, feedback, retrieval, bm25, evidence, verify, abstain, reading, llm
    ingest       ingest
    core         assistant.schema, errors, settings, text, question, prompts

A module may import from its own layer and the layers below it, never above; and no two modules may
import each other, directly or through others (every import counts, including ``TYPE_CHECKING``
and function-level ones). The last test proves the checker fails on a deliberate bad import.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "ingest", "prompts", "ui", "evals")
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("assistant", "assistant.schema", "assistant.errors", "assistant.settings", "assistant.text",
             "assistant.question", "prompts"),
    "ingest": ("ingest",),
    "engine": ("assistant.engine", "assistant.feedback", "assistant.retrieval", "assistant.bm25", "assistant.evidence", "assistant.verify",
               "assistant.abstain", "assistant.reading", "assistant.llm"),
    "composition": ("assistant.services",),
    "surfaces": ("assistant.api", "ui", "evals", "assistant.console"),
    "entry": ("assistant.cli", "assistant.__main__", "ingest.__main__"),
}
RANK = {name: i for i, name in enumerate(LAYERS)}


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages under ``root``."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def layer_of(module: str) -> str | None:
    """The layer of the longest prefix of ``module`` named in ``LAYERS``."""
    best: tuple[int, str] | None = None
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    return best[1] if best else None


def imports(path: Path, known: set[str]) -> set[str]:
    """The modules of ours that ``path`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m in known}


def violations(root: Path) -> list[str]:
    mods = modules(root)
    graph = {name: imports(path, set(mods)) - {name} for name, path in mods.items()}
    problems = [f"{name} has no layer: add it to LAYERS in tests/test_layers.py" for name in mods
                if layer_of(name) is None]
    for name, targets in graph.items():
        mine = layer_of(name)
        for target in sorted(targets):
            theirs = layer_of(target)
            if mine and theirs and RANK[theirs] > RANK[mine]:
                problems.append(f"{name} ({mine}) imports {target} ({theirs}), a layer above it")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_code_base_respects_its_layers() -> None:
    assert violations(REPO_ROOT) == []


def test_the_checker_fails_on_a_bad_import(tmp_path: Path) -> None:
    """A deliberate upward import (ingest -> engine) and a cycle are both reported."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "assistant" / "engine.py").write_text("from ingest.store import ChromaStore\n")
    (tmp_path / "ingest" / "store.py").write_text("from assistant.engine import AnswerEngine\n")
    (tmp_path / "assistant" / "schema.py").write_text("from assistant import settings\n")
    (tmp_path / "assistant" / "settings.py").write_text("from assistant import schema\n")
    problems = violations(tmp_path)
    assert "ingest.store (ingest) imports assistant.engine (engine), a layer above it" in problems
    assert "import cycle: assistant.engine -> ingest.store -> assistant.engine" in problems
    assert "import cycle: assistant.schema -> assistant.settings -> assistant.schema" in problems
    assert len(problems) == 3, problems
