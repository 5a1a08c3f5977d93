"""Dead letters: where the record came from, why it was refused, and a bounded size."""

from __future__ import annotations

from prometheus_client import REGISTRY

from kioskpulse.bus import Record
from kioskpulse.deadletter import MAX_DEAD_LETTER_VALUE_BYTES, dead_letter
from kioskpulse.events import DeadLetterHeaders
from kioskpulse.topics import DEADLETTER, RATINGS

#: faust's producer refuses larger records (producer_max_request_size).
FAUST_MAX_REQUEST_BYTES = 1_000_000


def counted(reason: str) -> float:
    labels = {"source_topic": RATINGS, "reason": reason}
    return REGISTRY.get_sample_value("kioskpulse_pipeline_dead_letters_total", labels) or 0.0


def test_a_dead_letter_says_where_from_and_why_and_is_counted() -> None:
    before = counted("malformed")
    record = Record(RATINGS, "s1", b"{oops", partition=2, offset=41)
    letter = dead_letter(record, "malformed", ValueError("not JSON"))
    assert (letter.topic, letter.key, letter.value) == (DEADLETTER, RATINGS, b"{oops")
    headers = DeadLetterHeaders.from_headers(letter.headers)
    assert (headers.source_topic, headers.source_partition, headers.source_offset) == (
        RATINGS,
        2,
        41,
    )
    assert (headers.error_class, headers.error_message) == ("ValueError", "not JSON")
    assert (headers.reason, headers.original_size) == ("malformed", 5)
    assert counted("malformed") == before + 1


def test_a_record_near_the_brokers_limit_is_cut_so_that_its_dead_letter_can_be_sent() -> None:
    value = b"x" * 1_048_000  # the broker takes up to 1 MiB + 12 bytes per record
    letter = dead_letter(
        Record(RATINGS, "s1", value, partition=0, offset=0), "malformed", ValueError("x" * 5000)
    )
    assert letter.value == value[:MAX_DEAD_LETTER_VALUE_BYTES]
    headers = DeadLetterHeaders.from_headers(letter.headers)
    assert headers.original_size == len(value)
    size = (
        len(letter.value) + len(letter.key or "") + sum(len(k) + len(v) for k, v in letter.headers)
    )
    assert size < FAUST_MAX_REQUEST_BYTES - 10_000  # room for the record's own overhead


def test_dead_letter_headers_without_the_newer_fields_still_parse() -> None:
    # Dead letters written before `reason` and `original_size` existed.
    old = [
        ("schema_version", b"1"),
        ("source_topic", RATINGS.encode()),
        ("source_partition", b"0"),
        ("source_offset", b"7"),
        ("error_class", b"ValidationError"),
        ("error_message", b"bad"),
    ]
    headers = DeadLetterHeaders.from_headers(old)
    assert (headers.reason, headers.original_size) == (None, None)
