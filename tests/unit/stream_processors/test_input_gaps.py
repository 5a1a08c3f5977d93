"""Forward jumps in an input partition's offsets: the skipped ranges, to be read again."""

from __future__ import annotations

from stream_processors.input_gaps import INPUT_GAPS, Gap, InputGaps, count_repair

R = "kiosk.ratings.v1"


def test_contiguous_offsets_and_re_reads_need_nothing() -> None:
    gaps = InputGaps()
    assert gaps.observe([(R, 0, 10), (R, 0, 11), (R, 1, 5)]) == []
    assert gaps.observe([(R, 0, 12), (R, 1, 6)]) == []
    assert gaps.observe([(R, 0, 11), (R, 0, 12)]) == [], "a record read twice is no gap"
    assert gaps.observe([(R, 0, 13)]) == [], "nor does it move the expected offset back"


def test_a_jump_is_the_range_of_missing_offsets() -> None:
    gaps = InputGaps()
    gaps.observe([(R, 3, 100), (R, 3, 101)])
    assert gaps.observe([(R, 3, 131), (R, 3, 132), (R, 4, 7)]) == [Gap(R, 3, 102, 131)]
    assert Gap(R, 3, 102, 131).size == 29
    # The range is read beside the stream: the stream goes on from where it is.
    assert gaps.observe([(R, 3, 133)]) == []
    assert gaps.observe([(R, 3, 102), (R, 3, 103)]) == [], "a late copy is no new gap"
    assert gaps.observe([(R, 3, 140)]) == [Gap(R, 3, 134, 140)]


def test_moved_partitions_start_afresh() -> None:
    gaps = InputGaps()
    gaps.observe([(R, 0, 10)])
    gaps.forget()
    assert gaps.observe([(R, 0, 500)]) == []


def test_a_jump_before_the_first_record_is_found_from_the_committed_offset() -> None:
    gaps = InputGaps(lambda topic, partition: 200)
    assert gaps.observe([(R, 0, 200), (R, 1, 240)]) == [Gap(R, 1, 200, 240)]


def test_a_repair_that_finds_fewer_records_is_counted_given_up() -> None:
    def count(outcome: str) -> float:
        return INPUT_GAPS.labels(R, outcome)._value.get()  # type: ignore[no-any-return]

    repaired, given_up = count("repaired"), count("given_up")
    count_repair(Gap(R, 0, 10, 20), 10)
    count_repair(Gap(R, 0, 30, 40), 4)  # retention deleted the rest
    assert (count("repaired"), count("given_up")) == (repaired + 1, given_up + 1)
