"""Forward jumps in an input partition's offsets are read again once, then reported."""

from __future__ import annotations

from stream_processors.input_gaps import InputGaps

R = "kiosk.ratings.v1"


def test_contiguous_offsets_and_re_reads_need_nothing() -> None:
    gaps = InputGaps()
    assert gaps.observe([(R, 0, 10), (R, 0, 11), (R, 1, 5)]) == []
    assert gaps.observe([(R, 0, 12), (R, 1, 6)]) == []
    assert gaps.observe([(R, 0, 11), (R, 0, 12)]) == [], "a record read twice is no gap"


def test_a_jump_is_read_again_from_the_first_missing_offset() -> None:
    gaps = InputGaps()
    gaps.observe([(R, 3, 100), (R, 3, 101)])
    assert gaps.observe([(R, 3, 131), (R, 3, 132), (R, 4, 7)]) == [(R, 3, 102)]
    # What was fetched before the seek may still come first, then the re-read.
    assert gaps.observe([(R, 3, 133)]) == []
    assert gaps.observe([(R, 3, 102), (R, 3, 103)]) == []


def test_a_gap_that_comes_back_after_its_repair_is_given_up() -> None:
    gaps = InputGaps()
    gaps.observe([(R, 0, 1)])
    assert gaps.observe([(R, 0, 50)]) == [(R, 0, 2)]
    gaps.observe([(R, 0, 1)])  # the re-read starts before the hole: retention deleted it
    assert gaps.observe([(R, 0, 50)]) == [], "no seek loop"


def test_moved_partitions_start_afresh() -> None:
    gaps = InputGaps()
    gaps.observe([(R, 0, 10)])
    gaps.forget()
    assert gaps.observe([(R, 0, 500)]) == []


def test_a_jump_before_the_first_record_is_found_from_the_committed_offset() -> None:
    gaps = InputGaps(lambda topic, partition: 200)
    assert gaps.observe([(R, 0, 200), (R, 1, 240)]) == [(R, 1, 200)]


def test_records_fetched_before_the_seek_are_no_second_gap() -> None:
    # The committed offset (100) lags what this worker already handled (up to 131).
    gaps = InputGaps(lambda topic, partition: 100)
    assert gaps.observe([(R, 3, 100), (R, 3, 101)]) == []
    assert gaps.observe([(R, 3, 131), (R, 3, 132)]) == [(R, 3, 102)]
    assert gaps.observe([(R, 3, 133), (R, 3, 134)]) == [], "not back to the committed 100"
    assert gaps.observe([(R, 3, 102), (R, 3, 103)]) == []
    assert gaps.observe([(R, 3, 140)]) == [(R, 3, 104)], "tracking resumed after the re-read"
