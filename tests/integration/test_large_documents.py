"""Large documents stay within bounded memory in a real extractor process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.generate import make_docx, make_pdf

pytestmark = pytest.mark.integration

LIMIT_MB = 300
# VmHWM is the peak of this process image; ru_maxrss would count the memory
# of the forking parent too (it survives exec).
MEASURE = """
import json, sys
from pathlib import Path
from services.extractor.extract import extract
from shared.formats import sniff_file
from services.extractor.limits import Limits
path = Path(sys.argv[1])
result = extract(path, sniff_file(path), Limits(ocr="off"), lambda done, total, ocr: None)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"pages": len(result.pages), "peak_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def measure(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("kind", "pages"), [("pdf", 600), ("docx", 900)])
def test_peak_memory_of_a_long_document(tmp_path: Path, kind: str, pages: int) -> None:
    path = tmp_path / f"long.{kind}"
    (make_pdf if kind == "pdf" else make_docx)(path, pages)
    result = measure(path)
    print(f"{kind} {pages} pages: peak RSS {result['peak_mb']:.0f} MB")
    assert result["pages"] == pages
    assert result["peak_mb"] < LIMIT_MB
