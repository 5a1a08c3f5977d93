"""The consumer lag's arithmetic (the measurement itself runs against Kafka in
tests/integration/test_consumer_lag.py)."""

from __future__ import annotations

from aiokafka import TopicPartition

from kioskpulse.topics import FRAMES
from stream_processors.aggregation.stage import INPUT_TOPICS
from stream_processors.exporter.lag import WORKER_INPUTS, lag_by_topic

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_the_lag_of_a_topic_sums_its_partitions() -> None:
    lag = lag_by_topic({A0: 10, A1: 5, B0: 7}, {}, {A0: 12, A1: 9, B0: 7})
    assert lag == {"a": 6, "b": 0}


def test_a_partition_never_committed_counts_from_its_beginning() -> None:
    lag = lag_by_topic({A0: None, A1: -1}, {A0: 3, A1: 0}, {A0: 10, A1: 4})
    assert lag == {"a": 11}


def test_a_commit_past_the_end_is_no_negative_lag() -> None:
    assert lag_by_topic({A0: 15}, {A0: 0}, {A0: 12}) == {"a": 0}


def test_the_lag_is_measured_on_every_topic_the_worker_reads() -> None:
    assert sorted(WORKER_INPUTS) == sorted((FRAMES, *INPUT_TOPICS))
