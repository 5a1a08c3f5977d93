"""The store aggregator's logic, free of faust and Kafka (docs/stream-processing.md).

Events in, per-store event-time buckets of additive statistics out. The faust
agent and the embedded runtime both drive the same ``AggregationStage``.
"""
