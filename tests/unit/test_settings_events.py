import pytest

from shared.events import DocumentUploaded, Progress, decode, encode, new_id
from shared.settings import Settings, load_settings, to_env


def test_settings_round_trip_through_the_environment() -> None:
    settings = Settings(
        gateway_port=9000, cors_origins=("http://a", "http://b"), s3_endpoint_url=None
    )
    assert load_settings(to_env(settings)) == settings


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="DOCMESH_GATEWAY_PROT"):
        load_settings({"DOCMESH_GATEWAY_PROT": "1"})


def test_wrong_type_is_refused() -> None:
    with pytest.raises(Exception, match="gateway_port"):
        load_settings({"DOCMESH_GATEWAY_PORT": "eighty"})


def test_events_round_trip_and_derive_child_ids() -> None:
    event = DocumentUploaded(
        event_id=new_id(),
        document_id="d",
        job_id="j",
        object_key="k",
        content_type="application/pdf",
        file_size=3,
    )
    assert decode(encode(event)) == event
    assert event.child_id("x") == event.child_id("x") != event.child_id("y")


def test_old_entries_without_new_fields_still_decode() -> None:
    raw = (
        b'{"type":"progress","event_id":"e","document_id":"d","job_id":"j",'
        b'"status":"chunking","progress":40,"step":"s"}'
    )
    event = decode(raw)
    assert isinstance(event, Progress) and event.chunk_count is None
