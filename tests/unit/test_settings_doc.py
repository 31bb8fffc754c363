from pathlib import Path

import msgspec

from deploy.local.settings_doc import field_docs, markdown_table, readme_section
from shared.settings import Settings

README = Path(__file__).parents[2] / "deploy" / "OPERATIONS.md"


def test_every_setting_is_documented() -> None:
    docs = field_docs()
    missing = [f.name for f in msgspec.structs.fields(Settings) if not docs.get(f.name)]
    assert not missing


def test_the_readme_table_is_the_generated_one() -> None:
    assert readme_section(README.read_text()) == markdown_table(), (
        "deploy/OPERATIONS.md has a stale settings table: paste `docmesh settings`"
    )
