"""The settings table of deploy/OPERATIONS.md, generated from the ``Settings`` type itself.

Each field's documentation is the string literal that follows it in
``shared/settings.py`` (read with ``ast``), so code and docs cannot drift:
a test checks that deploy/OPERATIONS.md holds exactly this table.
"""

from __future__ import annotations

import ast
import inspect

import msgspec

from shared import settings as settings_module
from shared.settings import ENV_PREFIX, Settings

START = "<!-- settings:start -->"
END = "<!-- settings:end -->"


def field_docs() -> dict[str, str]:
    """Field name -> the docstring written under it."""
    tree = ast.parse(inspect.getsource(settings_module))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    docs: dict[str, str] = {}
    body = cls.body
    for node, after in zip(body, [*body[1:], None], strict=True):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _default(value: object) -> str:
    if value is None or value == ():
        return "(empty)"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def markdown_table() -> str:
    """Every setting: its variable, its default and what it means."""
    docs = field_docs()
    defaults = msgspec.structs.asdict(Settings())
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in msgspec.structs.fields(Settings):
        doc = docs.get(field.name, "").replace("|", "\\|")
        rows.append(
            f"| `{ENV_PREFIX}{field.name.upper()}` | `{_default(defaults[field.name])}` | {doc} |"
        )
    return "\n".join(rows)


def readme_section(readme: str) -> str:
    """The part of the document between the settings markers."""
    return readme.split(START, 1)[1].split(END, 1)[0].strip()
