"""The Prometheus collector: every store's windows and counters, computed at scrape time.

A custom collector rather than gauges set on every upsert: the windows move with
the clock, so their figures are only right when read, and the window sums cost a
few cached additions per store (see ``windows``).

One scrape of 2,000 stores is about 130,000 samples. prometheus_client spends some
15 µs on each (a Sample per add_metric, label-name validation and escaping per line
in ``generate_latest``): 2 s. So the families are first built as plain rows
(``families()``), which ``render()`` writes in the text format directly, and which
``collect()`` turns into prometheus_client metrics for everything else (a registry,
``get_sample_value``). A test checks that both say the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kioskpulse.events import ratings_of
from stream_processors.exporter.figures import RAW_FIGURES, FigureProvider, GaugeSpec
from stream_processors.exporter.windows import WINDOWS, AggregateWindows

__all__ = ["Clock", "Family", "StoreCollector"]

#: Returns the current time (UTC); tests pass a fixed one.
Clock = Callable[[], datetime]


@dataclass(slots=True)
class Family:
    """One metric family as rows of label values and a value."""

    name: str  # without _total for counters: the exposition appends it
    kind: Literal["gauge", "counter"]
    documentation: str
    labels: tuple[str, ...]
    rows: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, labels: tuple[str, ...], value: float) -> None:
        self.rows.append((labels, value))

    def metric(self) -> Metric:
        """The prometheus_client form of the family."""
        cls = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        metric = cls(self.name, self.documentation, labels=self.labels)
        for labels, value in self.rows:
            metric.add_metric(labels, value)
        return metric

    def render(self, out: list[str]) -> None:
        """Append the family in the Prometheus text format (0.0.4)."""
        name = f"{self.name}_total" if self.kind == "counter" else self.name
        doc = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {self.kind}\n")
        if not self.labels:
            out.extend(f"{name} {value!r}\n" for _, value in self.rows)
            return
        # e.g. 'name{{store="{}",window="{}"}} {}\n': braces doubled for str.format.
        template = name + "{{" + ",".join(f'{label}="{{}}"' for label in self.labels) + "}} {}\n"
        fmt = template.format
        # The hot loop of a scrape: ids are DeviceIds and the other labels constants, so
        # escaping is almost never needed; repr() of a finite float is a valid sample value.
        for labels, value in self.rows:
            joined = "".join(labels)
            if "\\" in joined or '"' in joined or "\n" in joined:
                labels = tuple(map(_escape, labels))
            out.append(fmt(*labels, repr(value)))


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


class StoreCollector(Collector):
    """The per-store metric families of an ``AggregateWindows``."""

    def __init__(
        self,
        windows: AggregateWindows,
        clock: Clock,
        providers: Sequence[FigureProvider] = RAW_FIGURES,
    ) -> None:
        self._windows = windows
        self._clock = clock
        self._providers = tuple(providers)
        self._gauges = _merge_specs(self._providers)

    def families(self) -> list[Family]:
        """Every family as of now (buckets out of every window are dropped first)."""
        now = self._clock()
        self._windows.expire(now)
        return [
            *self._window_families(now),
            *_counter_families(self._windows),
            *_device_families(self._windows, now),
            *_operational_families(self._windows),
        ]

    def collect(self) -> Iterator[Metric]:
        for family in self.families():
            yield family.metric()

    def render(self) -> str:
        """The families in the text format, as ``generate_latest`` would write them."""
        out: list[str] = []
        for family in self.families():
            family.render(out)
        return "".join(out)

    def _window_families(self, now: datetime) -> list[Family]:
        families = {
            spec.name: Family(
                spec.name, "gauge", spec.documentation, ("store", "window", *spec.labels)
            )
            for spec in self._gauges
        }
        store_ids = self._windows.stores()
        by_window = {
            window: {
                store_id: self._windows.window(store_id, window, now) for store_id in store_ids
            }
            for window in WINDOWS
        }
        settled_by_window = {
            window: {
                store_id: self._windows.settled_window(store_id, window, now)
                for store_id in store_ids
            }
            for window in WINDOWS
        }
        for window, by_store in by_window.items():
            for provider in self._providers:
                provider.prepare(window, by_store, settled_by_window[window])
        for store_id in store_ids:
            for window in WINDOWS:
                statistics = by_window[window][store_id]
                settled = settled_by_window[window][store_id]
                for provider in self._providers:
                    for name, labels, value in provider.figures(
                        store_id, window, statistics, settled
                    ):
                        families[name].rows.append(((store_id, window, *labels), value))
        return list(families.values())


def _merge_specs(providers: Sequence[FigureProvider]) -> list[GaugeSpec]:
    """Each family once; two providers may share one only with the same labels."""
    specs: dict[str, GaugeSpec] = {}
    for provider in providers:
        for spec in provider.gauges():
            known = specs.setdefault(spec.name, spec)
            if known.labels != spec.labels:
                raise ValueError(
                    f"{spec.name} declared with labels {known.labels} and {spec.labels}"
                )
    return list(specs.values())


def _counter_families(windows: AggregateWindows) -> list[Family]:
    ratings = Family(
        "kioskpulse_ratings",
        "counter",
        "Counted presses since the start of the aggregates topic, by kiosk scale and rating "
        "(1..scale; 0..10 on NPS kiosks, scale 11).",
        ("store", "scale", "rating"),
    )
    suppressed = Family(
        "kioskpulse_ratings_suppressed",
        "counter",
        "Presses dropped by the misuse filter since the start of the aggregates topic.",
        ("store",),
    )
    visitors = Family(
        "kioskpulse_visitors",
        "counter",
        "Floor-camera visitors since the start of the aggregates topic.",
        ("store",),
    )
    followups = Family(
        "kioskpulse_followup",
        "counter",
        "Follow-up answers (why a press was unhappy) since the start of the aggregates topic, "
        "by reason; one per press.",
        ("store", "reason"),
    )
    for view in windows.views():
        for scale, levels in sorted(view.totals.presses.items()):
            for rating, count in zip(ratings_of(scale), levels, strict=True):
                ratings.add((view.store_id, str(scale), str(rating)), count)
        suppressed.add((view.store_id,), view.totals.suppressed)
        visitors.add((view.store_id,), view.totals.visitors)
        for reason, count in sorted(view.totals.followups.items()):
            followups.add((view.store_id, reason), count)
    return [ratings, suppressed, visitors, followups]


def _device_families(windows: AggregateWindows, now: datetime) -> list[Family]:
    kiosk_seen = Family(
        "kioskpulse_kiosk_last_seen_timestamp_seconds",
        "gauge",
        "When the kiosk last sent a heartbeat (its clock), Unix time.",
        ("store", "kiosk"),
    )
    buffered = Family(
        "kioskpulse_kiosk_buffered_events",
        "gauge",
        "Events waiting on the kiosk at its last heartbeat (offline buffer).",
        ("store", "kiosk"),
    )
    camera_seen = Family(
        "kioskpulse_camera_last_seen_timestamp_seconds",
        "gauge",
        "Capture time of the camera's newest observation, Unix time.",
        ("store", "camera"),
    )
    # One series per store, not per window: every window's corrected figures and
    # response rate stop at the same time.
    settled = Family(
        "kioskpulse_store_settled_until_timestamp_seconds",
        "gauge",
        "Buckets ending at or before this time (store event time, Unix time) have all their "
        "visitors counted; the response rate and the corrected figures use only those.",
        ("store",),
    )
    for view in windows.views(now):
        for kiosk_id, status in sorted(view.kiosks.items()):
            kiosk_seen.add((view.store_id, kiosk_id), status.last_seen.timestamp())
            buffered.add((view.store_id, kiosk_id), status.buffered)
        for camera_id, seen in sorted(view.cameras_last_seen.items()):
            camera_seen.add((view.store_id, camera_id), seen.timestamp())
        if view.settled_until is not None:
            settled.add((view.store_id,), view.settled_until.timestamp())
    return [kiosk_seen, buffered, camera_seen, settled]


def _operational_families(windows: AggregateWindows) -> list[Family]:
    views = list(windows.views())
    stores = Family("kioskpulse_exporter_stores", "gauge", "Stores seen in the aggregates.", ())
    stores.add((), len(views))
    buckets = Family(
        "kioskpulse_exporter_buckets",
        "gauge",
        "Aggregate buckets held in memory for the windows (all stores).",
        (),
    )
    buckets.add((), sum(view.buckets for view in views))
    families = [stores, buckets]
    updated = [view.last_updated_at for view in views if view.last_updated_at is not None]
    if updated:
        newest = Family(
            "kioskpulse_exporter_last_aggregate_updated_timestamp_seconds",
            "gauge",
            "updated_at of the newest aggregate consumed, Unix time (lag: time() minus this).",
            (),
        )
        newest.add((), max(updated).timestamp())
        families.append(newest)
    return families
