"""The ``assistant`` command: ingest, documents, ask, serve, eval.

Each subcommand parses its arguments, calls one service, and prints the result (or exactly one
JSON object with ``--json``). Expected failures print one line and exit non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from assistant.errors import AssistantError, BadRequest

if TYPE_CHECKING:
    from assistant.services import Services
    from assistant.settings import Settings

EXIT_FAILED_FILES = 1
EXIT_ERROR = 2


def _settings(args: argparse.Namespace) -> Settings:
    from assistant.settings import LLMSettings, Settings

    settings = Settings()
    if getattr(args, "backend", None):
        settings.llm = LLMSettings.model_validate({**settings.llm.model_dump(), "backend": args.backend})
    return settings


def _services(args: argparse.Namespace, settings: Settings | None = None) -> Services:
    from assistant.services import Services

    return Services(settings or _settings(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    services = _services(args)
    if args.watch:
        if args.json:
            raise BadRequest("--watch prints one line per change and cannot be combined with --json")
        return _watch(services, [Path(p) for p in args.paths], progress=sys.stderr.isatty())
    if args.if_empty and services.store.docs():
        print("the index already has documents; nothing to do (--if-empty)")
        return 0
    report = services.ingestor.ingest([Path(p) for p in args.paths], prune=args.prune,
                                      progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(report.model_dump_json())
    else:
        d, c = report.documents, report.chunks
        print(f"documents: {d['added']} added, {d['updated']} updated, {d['unchanged']} unchanged, "
              f"{d['removed']} removed, {d['failed']} failed; chunks: {c['added']} added, {c['removed']} removed "
              f"({report.seconds:.1f} s)")
        for f in report.failures:
            print(f"  failed: {f.path}: {f.reason}", file=sys.stderr)
    return EXIT_FAILED_FILES if report.failures else 0


def _watch(services: Services, paths: list[Path], *, progress: bool) -> int:
    """``assistant ingest PATH --watch``: a full pass, then one line per change until Ctrl-C."""
    watcher = services.folder_watcher(paths, emit=_print_line)
    names = ", ".join(str(p) for p in paths)
    print(f"watching {names} (changes applied after {watcher.debounce_ms} ms of quiet); Ctrl-C to stop", flush=True)
    try:
        watcher.run(progress=progress)
    except KeyboardInterrupt:
        pass
    print("stopped watching: everything committed so far is kept", flush=True)
    return 0


def _print_line(line: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {line}", flush=True)


def cmd_documents(args: argparse.Namespace) -> int:
    docs = _services(args).ingestor.documents()
    if args.json:
        print(json.dumps([d.model_dump() for d in docs]))
        return 0
    if not docs:
        print("nothing is indexed yet: run `assistant ingest PATH`")
    for d in docs:
        print(f"{d.id}  {d.chunks:5d} chunks  {d.version[:12]}  {d.ingested_at}  {d.source}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.console import render_answer_text
    from assistant.schema import check_question

    settings = _settings(args)
    check_question(args.question, settings.max_question_chars)  # at once: before the engine is even imported
    answer = _services(args, settings).engine.ask(args.question)
    print(answer.to_json() if args.json else render_answer_text(answer))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from assistant.api.app import create_app

    services = _services(args)
    watch = [Path(p) for p in args.watch or []]
    app = create_app(services, ui=not args.no_ui, watch=watch, on_watch_line=_print_line)
    if services.settings.llm.backend == "local":  # load the model now, not on the first question
        threading.Thread(target=_warm_up, args=(services,), daemon=True).start()
    print(f"serving the chat at http://{args.host}:{args.port}/  (API under /v1, docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _warm_up(services: Services) -> None:
    try:
        llm = services.llm
        if llm is not None:
            llm.count_tokens("warm up")
    except AssistantError as exc:
        print(f"warning: the LLM could not be loaded ({exc.message}); answers will be extractive", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.cli import run_cli

    return run_cli(args)


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from assistant.feedback import FeedbackStore
    from assistant.settings import Settings
    from evals.feedback import export_lines

    settings = Settings()
    records = FeedbackStore(settings.feedback_path).records()
    lines = export_lines(records)
    text = "".join(line + "\n" for line in lines)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    print(f"{len(lines)} eval case(s) from {len(records)} vote(s) in {settings.feedback_path}"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A grounded chat assistant over your own documents: cited answers, offline.",
        epilog="Configuration comes from ASSISTANT_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index files or folders (.txt .md .html .pdf .docx)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (recursive, hidden files skipped)")
    p.add_argument("--prune", action="store_true", help="remove documents whose files are gone from the given folders")
    p.add_argument("--json", action="store_true", help="print one JSON summary, no progress bar")
    p.add_argument("--if-empty", action="store_true", help="do nothing if the index already has documents")
    p.add_argument("--watch", action="store_true",
                   help="then keep the folders in sync: apply every add/change/delete (one line each) until Ctrl-C")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("documents", help="list the indexed documents")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_documents)

    p = sub.add_parser("ask", help="ask a question; the answer cites its sources")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer JSON")
    p.add_argument("--backend", choices=["local", "openai", "extractive"], help="override ASSISTANT_LLM__BACKEND")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="serve the chat UI and REST API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=["local", "openai", "extractive"], help="override ASSISTANT_LLM__BACKEND")
    p.add_argument("--no-ui", action="store_true", help="the REST API only (a headless worker behind a load balancer)")
    p.add_argument("--watch", action="append", metavar="PATH",
                   help="keep this folder in sync with the index while serving (repeatable)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="run the grounding evals (see evals/README.md)")
    p.add_argument("--suite", choices=["ci", "full"], default="ci",
                   help="ci: sample, 200 CLAP NQ, 100 leave-gold-out, instances; full: all CLAP NQ (600 + 300)")
    p.add_argument("--backend", choices=["local", "openai", "extractive"], default="extractive")
    p.add_argument("--report", default="eval-report", help="folder for report.json, report.md, chart.png (and the eval indexes)")
    p.add_argument("--limit", type=int, default=0, help="at most this many questions per dataset, half answerable, half not (0 = all)")
    p.add_argument("--answer-limit", type=int, default=None,
                   help="CLAP NQ: generate answers for at most N answerable + N unanswerable questions (retrieval and "
                        "abstention still cover all); default 25 with --backend local, else 0 = no cap")
    p.add_argument("--datasets", "--dataset", nargs="+", default=None,
                   choices=["sample", "clapnq", "clapnq-lgo", "instances", "feedback"],
                   help="default: the first four (see evals/README.md); feedback: your stored votes, replayed on "
                        "your index")
    p.add_argument("--feedback-file", metavar="FILE", default=None,
                   help="with --dataset feedback: replay this exported dataset instead of the stored votes")
    p.add_argument("--no-gate", action="store_true", help="report only; do not fail on thresholds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--judge-url", default="", help="optional LLM judge: an OpenAI-compatible base URL (off by default)")
    p.add_argument("--judge-model", default="", help="the judge's model name")
    p.add_argument("--judge-key-env", default="", metavar="NAME", help="environment variable holding the judge's API key")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("feedback", help="the votes stored on answers (see README, Feedback)")
    fsub = p.add_subparsers(dest="feedback_command", required=True)
    e = fsub.add_parser("export", help="write the votes as a JSONL eval dataset (the evals/data format)")
    e.add_argument("--out", metavar="FILE", default=None, help="write here instead of to stdout")
    e.set_defaults(func=cmd_feedback_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AssistantError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ValidationError as exc:
        print(f"error: invalid configuration: {exc.errors()[0].get('loc')}: {exc.errors()[0].get('msg')}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `assistant documents | head`: the reader left; that is not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: everything committed so far is kept; run the same command again to finish",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
