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


def test_records_behind_the_expected_offset_at_the_end_of_a_partition_are_a_gap() -> None:
    # The stream handed over 100..104 of partition 0 and nothing of partition 1 (whose
    # committed offset is 50); the partitions hold up to 107 and 50.
    gaps = InputGaps(lambda topic, partition: 50)
    gaps.observe([(R, 0, o) for o in range(100, 105)])
    assert gaps.behind({(R, 0): 107, (R, 1): 50}) == [Gap(R, 0, 105, 107)]
    assert gaps.behind({(R, 0): 105, (R, 1): None}) == [], "caught up, or no watermark yet"


def test_a_tail_read_beside_the_stream_is_not_found_again() -> None:
    gaps = InputGaps()
    gaps.observe([(R, 0, 9)])
    (tail,) = gaps.behind({(R, 0): 20})
    gaps.repaired(tail)
    assert gaps.behind({(R, 0): 20}) == []
    assert gaps.observe([(R, 0, 12)]) == [], "the stream's own late copy is no gap"
    assert gaps.observe([(R, 0, 20)]) == []


def test_without_a_committed_offset_nothing_is_behind_before_the_first_record() -> None:
    assert InputGaps().behind({(R, 0): 1000}) == []


def test_a_skip_before_a_first_record_seen_before_the_committed_offset_is_found_later() -> None:
    committed: dict[int, int] = {}
    gaps = InputGaps(lambda topic, partition: committed.get(partition))
    # faust hands over records while it still seeks: no committed offset known yet.
    assert gaps.observe([(R, 0, 348), (R, 1, 60)]) == []
    assert gaps.missed_starts() == [], "still unknown: asked again later"
    committed.update({0: 289, 1: 60})
    assert gaps.missed_starts() == [Gap(R, 0, 289, 348)]
    assert gaps.missed_starts() == [], "each first record is checked once"
