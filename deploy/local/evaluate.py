"""``docmesh eval``: an evaluation set kept in a JSON Lines file, saved and run through
the API (as the key in DOCMESH_API_KEY's tenant): its measures on stderr, the run as
JSON on stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from shared.integrations.client import DocmeshClient, DocmeshError
from shared.relevance import Question


def read_questions(path: Path) -> list[dict[str, Any]]:
    """The questions of ``path``, one JSON object a line (blank lines skipped); a line
    that is not a question stops with its number and what is wrong."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SystemExit(f"docmesh eval: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            questions.append(msgspec.to_builtins(msgspec.json.decode(line, type=Question)))
        except msgspec.DecodeError as exc:  # ValidationError included
            raise SystemExit(f"docmesh eval: {path}:{number}: {exc}") from None
    if not questions:
        raise SystemExit(f"docmesh eval: {path} holds no question")
    return questions


def run(args: argparse.Namespace, url: str) -> None:
    """Save the file's questions as the set and run it."""
    questions = read_questions(args.file)
    name = args.name or args.file.stem
    key = os.environ.get("DOCMESH_API_KEY") or None
    with DocmeshClient(url, key, timeout=900) as client:
        try:
            found = client.evaluate(name, questions, args.k, args.index_version, args.rerank)
        except DocmeshError as exc:
            raise SystemExit(f"docmesh eval: {exc.code}: {exc.message}") from None
    s, k = found["summary"], found["k"]
    print(
        f"{name} on index version {found['index_version']}: recall@{k} {s['recall']:.3f}, "
        f"MRR {s['mrr']:.3f}, nDCG@{k} {s['ndcg']:.3f} ({s['questions']} questions, "
        f"{s['unanswerable']} whose answer the version lacks; "
        f"{found.get('reranker') or 'fused order'})",
        file=sys.stderr,
    )
    if not args.details:
        found.pop("questions", None)
    print(json.dumps(found, indent=2))
