"""The store aggregator's logic, free of faust and Kafka (ARCHITECTURE §6–7).

Events in, per-store event-time buckets of additive statistics out. The faust
agent and the embedded runtime both drive the same ``AggregationStage``.
"""
