"""The pipeline health dashboard: the API's rate, errors and latency (RED), rejections
and producer replacements, the delay and freshness of every stage, consumer lag, dead
letters, the aggregator and the vision stage, the exporter, and the scrape targets.

Counters of things that should not happen (5xx, rejections, dead letters, producer
replacements) show 0 while there are none, not "No data": an empty panel would look the
same as a broken scrape. The panels are filtered by Grafana's ad hoc filters (``job``,
``instance``, ... chosen at the top), not by a variable in the queries.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus, statetimeline
from grafana_foundation_sdk.models import dashboard as models

from tools.dashboards.common import (
    DATASOURCE,
    new_dashboard,
    query,
    stat_panel,
    thresholds,
    timeseries_panel,
)

__all__ = ["UID", "build"]

UID = "kioskpulse-pipeline"

RATE = "[$__rate_interval]"


def or_none(expr: str, label: str) -> str:
    """``expr``, or a single 0 labelled ``label="none"`` while it has no series (a counter
    family with no child yet, e.g. no dead letter ever)."""
    return f'({expr}) or on () label_replace(vector(0), "{label}", "none", "", "")'


#: Per job, the API's requests and the 5xx and 503 among them (0 while there are none).
ALL = "job:kioskpulse_api_requests:rate5m"
FIVE_XX = f"(job:kioskpulse_api_requests_5xx:rate5m or {ALL} * 0)"
FIVE_O_THREE = f"(job:kioskpulse_api_requests_503:rate5m or {ALL} * 0)"


def quantiles(metric: str, by: str, what: str) -> list[prometheus.Dataquery]:
    """p50 and p99 of a histogram, per ``by`` (a label, or "" for all together)."""
    group = f"{by}, le" if by else "le"
    legend_prefix = f"{{{{{by}}}}} " if by else ""
    return [
        query(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))",
            f"{legend_prefix}{what} p{round(q * 100)}",
            ref=ref,
        )
        for ref, q in (("A", 0.5), ("B", 0.99))
    ]


UP_MAPPINGS: list[models.ValueMapping] = [
    models.ValueMap(
        options={
            "1": models.ValueMappingResult(text="up", color="green", index=0),
            "0": models.ValueMappingResult(text="down", color="red", index=1),
        }
    )
]


def build() -> dashboard.Dashboard:
    # ------------------------------------------------------------------ the API (RED)
    requests = timeseries_panel(
        "API requests per second",
        "All requests, server errors (5xx) and 503s (the broker did not acknowledge in time; "
        "devices retry), from the recording rules job:kioskpulse_api_requests*:rate5m.",
        "reqps",
        [
            query(ALL, "{{job}} all", ref="A"),
            query(FIVE_XX, "{{job}} 5xx", ref="B"),
            query(FIVE_O_THREE, "{{job}} 503", ref="C"),
        ],
        width=8,
        minimum=0,
    )
    errors = timeseries_panel(
        "API error ratio",
        "Server errors other than 503 (bugs: devices do not retry them; alert above 1 %) and "
        "503s (broker unavailable; alert above 5 %) as a share of all requests.",
        "percentunit",
        [
            query(f"({FIVE_XX} - {FIVE_O_THREE}) / ({ALL} > 0)", "{{job}} 500s", ref="A"),
            query(f"{FIVE_O_THREE} / ({ALL} > 0)", "{{job}} 503s", ref="B"),
        ],
        width=8,
        minimum=0,
        threshold_lines=thresholds((None, "green"), (0.01, "orange"), (0.05, "red")),
    )
    latency = timeseries_panel(
        "API request latency",
        "Time from the request's start to the last byte of the answer, over all routes; a "
        "write is answered once the broker acknowledged it.",
        "s",
        quantiles("kioskpulse_api_request_duration_seconds", "", "requests"),
        width=8,
        minimum=0,
    )
    by_route = timeseries_panel(
        "API requests per route and status",
        "Requests per route template, method and status code (unmatched paths share one "
        "route label).",
        "reqps",
        [
            query(
                f"sum by (route, method, status) (rate(kioskpulse_api_requests_total{RATE}))",
                "{{method}} {{route}} {{status}}",
            )
        ],
        minimum=0,
    )
    publish = timeseries_panel(
        "Publish latency (broker acknowledgement)",
        "Time for the broker to acknowledge the events of one request, per topic.",
        "s",
        quantiles("kioskpulse_api_publish_duration_seconds", "topic", "publish"),
        minimum=0,
    )
    accepted = timeseries_panel(
        "Events accepted per second",
        "Events the broker acknowledged, per topic.",
        "cps",
        [
            query(
                f"sum by (topic) (rate(kioskpulse_api_events_accepted_total{RATE}))",
                "{{topic}}",
            )
        ],
        width=8,
        minimum=0,
    )
    rejections = timeseries_panel(
        "Rejections by reason",
        "Requests the API refused: validation, event_time, unauthenticated, wrong_device, "
        "rate_limited, too_large, unsupported_media_type, broker_unavailable, pairing_refused.",
        "reqps",
        [
            query(
                or_none(f"sum by (reason) (rate(kioskpulse_api_rejections_total{RATE}))", "reason"),
                "{{reason}}",
            )
        ],
        width=8,
        minimum=0,
    )
    replacements = timeseries_panel(
        "Kafka producers replaced",
        "Producers replaced because they could not recover by themselves (the API's and the "
        "workers'), by reason. Once after a broker restart is expected.",
        "short",
        [
            query(
                or_none(
                    "sum by (job, reason) (increase(kioskpulse_bus_producer_replacements_total"
                    f"{RATE}))",
                    "reason",
                ),
                "{{job}} {{reason}}",
            )
        ],
        width=8,
        minimum=0,
        bars=True,
    ).decimals(0)

    # ------------------------------------------------------------------ the stages
    delay = timeseries_panel(
        "Delay behind the API per stage",
        "How far each later stage's newest event time is behind the newest the API accepted "
        "(kioskpulse:delay_seconds; stays at 0 on a quiet night). The objective is 3 s; "
        "KioskPulsePipelineSlow fires above 15 s, KioskPulsePipelineStale above 60 s.",
        "s",
        [query("kioskpulse:delay_seconds", "{{stage}}")],
        minimum=0,
        threshold_lines=thresholds((None, "green"), (15, "orange"), (60, "red")),
    )
    freshness = timeseries_panel(
        "Freshness per stage",
        "Age of the newest event time each stage has handled (kioskpulse:freshness_seconds): "
        "grows when nothing happens, e.g. at night.",
        "s",
        [query("kioskpulse:freshness_seconds", "{{stage}}")],
        minimum=0,
    )
    lag = timeseries_panel(
        "Consumer lag per topic",
        "Records of the workers' input topics not yet consumed (end offsets minus committed "
        "offsets), measured from outside by the exporter every 15 s: known while a worker is "
        'down. "not measured": no exporter measures it (it needs Kafka; the demo has none).',
        "short",
        [
            query(
                # NaN, not 0, while nothing measures it (the exporter measures it on Kafka).
                "max by (group, topic) (kioskpulse_pipeline_consumer_lag_records) or on ()"
                ' label_replace(vector(NaN), "topic", "not measured", "", "")',
                "{{group}} {{topic}}",
            )
        ],
        minimum=0,
    ).decimals(0)
    dead_letters = timeseries_panel(
        "Dead letters per minute by reason",
        "Messages set aside on pipeline.deadletter.v1, by source topic and reason "
        "(docs/operations.md, dead-letter reasons).",
        "cpm",
        [
            query(
                or_none(
                    "sum by (source_topic, reason) (rate(kioskpulse_pipeline_dead_letters_total"
                    f"{RATE})) * 60",
                    "reason",
                ),
                "{{source_topic}} {{reason}}",
            )
        ],
        minimum=0,
    )
    aggregator = timeseries_panel(
        "Aggregator events by outcome",
        "Events the store aggregator handled per second, by topic and outcome (accepted, "
        "duplicate, too_late, too_early, state_full, malformed).",
        "cps",
        [
            query(
                f"sum by (topic, outcome) (rate(kioskpulse_aggregator_events_total{RATE}))",
                "{{topic}} {{outcome}}",
            )
        ],
        minimum=0,
    )
    event_lag = timeseries_panel(
        "Aggregator event lag",
        "Wall clock minus event time when the aggregator handled an event, per topic (kiosks "
        "that buffered offline deliver old events: the p99 shows them).",
        "s",
        quantiles("kioskpulse_aggregator_event_lag_seconds", "topic", "lag"),
        minimum=0,
    )

    # ------------------------------------------------------------------ vision
    frames = timeseries_panel(
        "Vision: frames by outcome and faces",
        "Frames the vision stage handled per second, by outcome (ok, or why rejected), and "
        "the faces it found and classified.",
        "cps",
        [
            query(
                or_none(
                    f"sum by (outcome) (rate(kioskpulse_vision_frames_total{RATE}))", "outcome"
                ),
                "frames {{outcome}}",
                ref="A",
            ),
            query(f"sum(rate(kioskpulse_vision_faces_total{RATE}))", "faces", ref="B"),
        ],
        width=8,
        minimum=0,
    )
    batch = timeseries_panel(
        "Vision: batch duration",
        "Time to analyse one batch of frames (decode, detect, classify, track).",
        "s",
        quantiles("kioskpulse_vision_batch_duration_seconds", "", "batch"),
        width=8,
        minimum=0,
    )
    infer = timeseries_panel(
        "Vision: inference duration per batch",
        "Expression inference time per batch of faces (the ONNX model).",
        "s",
        quantiles("kioskpulse_vision_infer_duration_seconds", "", "inference"),
        width=8,
        minimum=0,
    )

    # ------------------------------------------------------------------ exporter, targets
    ready = stat_panel(
        "Exporter caught up",
        "Whether each exporter has read store.aggregates.v1 up to the end offsets it saw at "
        "start; until then its store figures are those of a half-read topic.",
        "none",
        [query("kioskpulse_exporter_ready", "{{instance}}", instant=True)],
        thresholds((None, "orange"), (1, "green")),
        width=8,
        mappings=[
            models.ValueMap(
                options={
                    "1": models.ValueMappingResult(text="ready", color="green", index=0),
                    "0": models.ValueMappingResult(text="reading", color="orange", index=1),
                }
            )
        ],
    )
    render = timeseries_panel(
        "Exporter render time",
        "How long the last rendering of every store's figures took. The exporter renders "
        "at most a fifth of the time, so this bounds how fresh a scrape is.",
        "s",
        [query("kioskpulse_exporter_render_seconds", "{{instance}}")],
        width=8,
        height=4,
        minimum=0,
    )
    stores = timeseries_panel(
        "Stores in the exporter",
        "Stores seen in the aggregates.",
        "short",
        [query("kioskpulse_exporter_stores", "{{instance}}")],
        width=8,
        height=4,
        minimum=0,
    ).decimals(0)
    targets = (
        statetimeline.Panel()
        .title("Scrape targets up")
        .description(
            "Whether Prometheus could scrape each kioskpulse process "
            "(KioskPulseTargetDown fires after 3 minutes down)."
        )
        .datasource(DATASOURCE)
        .unit("none")
        .span(24)
        .height(6)
        .mappings(UP_MAPPINGS)
        .thresholds(thresholds((None, "red"), (1, "green")))
        .targets([query('up{job=~"kioskpulse-.*"}', "{{job}} {{instance}}")])
    )

    return (
        new_dashboard(
            UID,
            "kioskpulse · Pipeline health",
            "The API's rate, errors and latency, the delay and freshness of every stage, "
            "consumer lag, dead letters, the aggregator, the vision stage, the exporter and "
            "the scrape targets.",
            ["pipeline"],
        )
        .with_variable(dashboard.AdHocVariable("filters").label("Filters").datasource(DATASOURCE))
        .with_row(dashboard.Row("API: rate, errors, duration"))
        .with_panel(requests)
        .with_panel(errors)
        .with_panel(latency)
        .with_panel(by_route)
        .with_panel(publish)
        .with_panel(accepted)
        .with_panel(rejections)
        .with_panel(replacements)
        .with_row(dashboard.Row("Stages: delay, lag, dead letters"))
        .with_panel(delay)
        .with_panel(freshness)
        .with_panel(lag)
        .with_panel(dead_letters)
        .with_panel(aggregator)
        .with_panel(event_lag)
        .with_row(dashboard.Row("Vision stage"))
        .with_panel(frames)
        .with_panel(batch)
        .with_panel(infer)
        .with_row(dashboard.Row("Exporter and scrape targets"))
        .with_panel(ready)
        .with_panel(render)
        .with_panel(stores)
        .with_panel(targets)
    )
