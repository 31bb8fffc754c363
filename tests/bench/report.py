"""The benchmark table of deploy/OPERATIONS.md, generated from a run's results, targets checked.

python -m tests.bench.report bench-results.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Results = dict[str, Any]


def _within(low: float, high: float) -> Callable[[float], bool]:
    return lambda value: low <= value <= high


TARGETS: list[tuple[str, Callable[[Results], float], str, Callable[[float], bool]]] = [
    (
        "mesh time / loop time",
        lambda r: r["mesh_vs_loop"]["mesh_over_loop"],
        "<= 1.0",
        lambda v: v <= 1.0,
    ),
    (
        "mesh / raw embedding throughput",
        lambda r: r["embedding_bound"]["mesh_over_raw"],
        ">= 0.95",
        lambda v: v >= 0.95,
    ),
    (
        "GET status / bare handler",
        lambda r: r["gateway"]["status_over_bare"],
        ">= 0.5",
        lambda v: v >= 0.5,
    ),
    (
        "small documents behind a large one, p95 / alone",
        lambda r: r["fairness"]["p95_behind_over_alone"],
        "<= 3",
        lambda v: v <= 3,
    ),
    (
        "time taken / time promised at /process, median",
        lambda r: r["fairness"]["taken_over_promised"]["median"],
        "0.7 - 1.3",
        _within(0.7, 1.3),
    ),
    (
        "PDF layout reading: text PDF time / plain blocks",
        lambda r: r["pdf_layout"]["text_slowdown"],
        "<= 1.5",
        lambda v: v <= 1.5,
    ),
    (
        "table rows intact in chunks (generated table set)",
        lambda r: r["pdf_layout"]["layout"]["rows_intact"],
        ">= 0.95",
        lambda v: v >= 0.95,
    ),
    (
        "large document: longest wait between embedded counts (s)",
        lambda r: r["fairness"]["large_longest_stall_s"],
        "<= 30",
        lambda v: v <= 30,
    ),
]


def markdown(results: Results) -> str:
    """The targets, met or missed, then every measure of the run as ``table`` prints it."""
    from tests.bench.run import table

    lines = ["| measure | result | target |", "|---|---|---|"]
    for name, value, target, met in TARGETS:
        measured = value(results)
        lines.append(f"| {name} | {measured} | {target}: {'met' if met(measured) else 'missed'} |")
    lines += ["", "| measure | result |", "|---|---|"]
    for row in table(results).splitlines():
        name, _, result = row.partition("  ")
        lines.append(f"| {name.strip()} | {result.strip()} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
