"""Pages per second and peak memory of one extraction, in a fresh process.

python -m tests.bench.extraction docmesh|pymupdf|pypdf FILE

``pymupdf`` is the bare library docmesh's extractor is built on: the difference
is docmesh's own overhead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def peak_mb() -> float:
    # VmHWM: the peak of this process image (ru_maxrss would include the parent's).
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmHWM"].split()[0]) / 1024


def run(tool: str, path: Path) -> dict[str, float]:
    if tool == "docmesh":
        from services.extractor.extract import extract
        from services.extractor.limits import Limits
        from shared.formats import sniff_file

        started = time.perf_counter()
        fmt = sniff_file(path)
        assert fmt is not None
        pages = len(extract(path, fmt, Limits(ocr="off"), lambda done, total, ocr: None).pages)
    elif tool == "pymupdf":
        import pymupdf

        started = time.perf_counter()
        with pymupdf.open(path) as doc:
            pages = sum(1 for page in doc if page.get_text() is not None)
    else:
        import pypdf

        started = time.perf_counter()
        reader = pypdf.PdfReader(path)
        pages = sum(1 for page in reader.pages if page.extract_text() is not None)
    seconds = time.perf_counter() - started
    return {
        "pages": pages,
        "seconds": round(seconds, 3),
        "pages_per_s": round(pages / seconds, 1),
        "peak_rss_mb": round(peak_mb(), 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], Path(sys.argv[2]))))
