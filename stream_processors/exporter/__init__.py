"""The exporter: ``store.aggregates.v1`` → Prometheus ``/metrics`` and a read-only JSON API.

windows    pure state: upserted buckets, cached window sums, running totals
figures    per-window figures (the extension point of the bias correction)
collector  the Prometheus collector over the store
state      one exporter: store + own registry + readiness; ``ingest()``
source     feeding it from Kafka or from the in-process bus
app        the FastAPI app (routes/ and deps); run: ``kioskpulse exporter``
"""
