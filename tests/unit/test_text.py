from shared.text import clean, content_hash


def test_clean_removes_nul_and_controls_and_expands_ligatures() -> None:
    assert clean("Uni\ufb01ed\x00 tool\x07kit") == "Unified toolkit"


def test_clean_joins_hyphenation_at_line_ends_and_keeps_paragraphs() -> None:
    text = "a docu-\nment   with\t spaces\r\n\n\n\nnext paragraph"
    assert clean(text) == "a document with spaces\n\nnext paragraph"


def test_clean_composes_unicode() -> None:
    assert clean("ac\u0327a\u0303o") == "ação"


def test_content_hash_ignores_layout_and_case() -> None:
    assert content_hash(["Hello  World\n", "Page two"]) == content_hash(["hello world page", "two"])
    assert content_hash(["• Parrots\n- Hockey"]) == content_hash(["Parrots", "Hockey."])
    assert content_hash(["Hello"]) != content_hash(["Hallo"])
