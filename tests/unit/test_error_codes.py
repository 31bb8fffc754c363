"""Every error code the API can answer is described in the OpenAPI document, with the
status it comes with: read off the source, where each is raised."""

from __future__ import annotations

import ast
from pathlib import Path

from services.gateway.error_codes import ERROR_CODES
from shared.errors import Conflict, Gone, Invalid, Unavailable

ROOT = Path(__file__).parents[2]
SOURCES = sorted([*(ROOT / "services" / "gateway").rglob("*.py"), *(ROOT / "shared").rglob("*.py")])
STATUS_OF = {
    "FieldError": 422,
    **{kind.__name__: kind.status for kind in (Conflict, Gone, Invalid, Unavailable)},
}
ENDED = ("cancelled", "expired", "deleted")
"""What ``document_{status}`` codes name (a document that ended, or went)."""


def raised() -> dict[str, set[int]]:
    """code -> the statuses it is raised with, in the gateway and the library."""
    found: dict[str, set[int]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "ApiError" and len(node.args) >= 2:
                status, code = node.args[0], node.args[1]
                number = status.value if isinstance(status, ast.Constant) else None
            elif name in STATUS_OF and node.args:
                code, number = node.args[0], STATUS_OF[str(name)]
            else:
                continue
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                codes = [code.value]
            elif isinstance(code, ast.JoinedStr) and ast.unparse(code).startswith("f'document_"):
                codes = [f"document_{end}" for end in ENDED]
            else:
                continue
            for one in codes:
                found.setdefault(one, set()).add(number if isinstance(number, int) else 0)
    return found


def test_every_code_raised_is_described_with_its_status() -> None:
    found = raised()
    assert len(found) > 40
    missing = sorted(set(found) - set(ERROR_CODES))
    assert missing == []
    wrong = {c: (s, ERROR_CODES[c][0]) for c, s in found.items() if ERROR_CODES[c][0] not in s}
    assert wrong == {}
