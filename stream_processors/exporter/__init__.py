"""The exporter: ``store.aggregates.v1`` → Prometheus ``/metrics`` and a read-only JSON API.

windows    pure state: upserted buckets, cached window sums, running totals
figures    per-window figures (the extension point of the bias correction)
corrected  the bias-corrected figures (the estimator on each window)
collector  the Prometheus collector over the windows
summary    one store's window as the JSON of the read API
console    the same summaries as the demo's text console
state      one exporter: windows + own registry + readiness; ``ingest()``
source     feeding it from Kafka or from the in-process bus
app        the FastAPI app (routes/ and deps)
run        ``build_exporter`` (used by the process and the demo), ``kioskpulse exporter``
"""
