import pytest

from services.gateway.errors import ApiError
from services.gateway.request_bodies import PresignRequest, check_presign, decode_body
from shared.formats import Format

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def presign(**fields: object) -> PresignRequest:
    body = {"filename": "a.pdf", "file_size": 10, "content_type": PDF, **fields}
    import msgspec

    return decode_body(msgspec.json.encode(body), PresignRequest)  # type: ignore[no-any-return]


def error_of(**fields: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        check_presign(presign(**fields), max_size=1000)
    return info.value


def test_accepts_every_format_under_its_extensions() -> None:
    assert check_presign(presign(filename="a.HTM", content_type="text/html"), 1000) is Format.HTML
    assert check_presign(presign(filename="a.tab", content_type="text/tab-separated-values"),
                         1000) is Format.TSV  # fmt: skip
    assert check_presign(presign(filename="a.md", content_type="text/markdown; charset=utf-8"),
                         1000) is Format.MD  # fmt: skip


def test_accepts_the_word_formats() -> None:
    assert check_presign(presign(), 1000) is Format.PDF
    assert check_presign(presign(filename="A.DOCX", content_type=DOCX), 1000) is Format.DOCX
    assert (
        check_presign(presign(filename="x.doc", content_type="application/msword"), 1000)
        is Format.DOC
    )


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"file_size": 0}, 422, "file_size"),
        ({"file_size": 1001}, 413, "file_size"),
        ({"content_type": "image/png", "filename": "a.png"}, 415, "content_type"),
        ({"content_type": "text/csv", "filename": "a.txt"}, 422, "filename"),
        ({"filename": "a.docx"}, 422, "filename"),
        ({"filename": "../etc/passwd.pdf"}, 422, "filename"),
        ({"filename": "a\x01.pdf"}, 422, "filename"),
        ({"filename": "a\u202eftp.pdf"}, 422, "filename"),
    ],
)
def test_refusals_name_the_field(fields: dict[str, object], status: int, field: str) -> None:
    err = error_of(**fields)
    assert (err.status, err.field) == (status, field)
    assert err.body()["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"filename": "a.pdf", "file_size": "big", "content_type": "application/pdf"}',
            "file_size",
        ),
        (b'{"file_size": 1, "content_type": "application/pdf"}', "filename"),
        (b'{"filename": "a.pdf", "file_size": 1, "content_type": "x", "evil": 1}', "evil"),
        (b'{"filename": "a.pdf", "file_size": 1, "content_type": "x", "tags": [1]}', "tags"),
    ],
)
def test_decode_errors_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ApiError) as info:
        decode_body(raw, PresignRequest)
    assert info.value.field == field and 400 <= info.value.status < 500


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]"])
def test_bodies_that_are_not_objects(raw: bytes) -> None:
    with pytest.raises(ApiError) as info:
        decode_body(raw, PresignRequest)
    assert 400 <= info.value.status < 500
