"""Per-window figures: what the exporter reports for one store, one window and its sums.

A ``FigureProvider`` declares gauge families and yields samples for them from a
window's ``Statistics``; the collector asks every provider for every store and
window. It hands over two sums of the window: all its buckets, and its settled ones
only (``windows.AggregateWindows.settled_window``: the newest buckets have their
presses but not yet all their visitors). What sets presses against visitors (the
response rate, the corrected figures) reads the settled sums; the rest reads all.
Before that, once per scrape and window, it hands every provider all the stores'
sums of the window, both kinds (``prepare``): the bias correction (``corrected``) pools
the confusion matrix over stores and solves them in one batch there. The raw
figures below need no such step.

Every family is labelled ``store`` and ``window`` first, then its own labels. A
provider may add samples to another provider's family (the corrected index joins
``kioskpulse_happy_index``) if it declares the same family with the same labels.

Undefined figures (a share of no presses, a rate without visitors) are left out,
never exported as NaN or 0: an absent series reads as "no data" in Grafana.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kioskpulse.events import EXPRESSIONS, NPS_GROUPS, TONES, ratings_of
from stream_processors.statistics import Statistics, net_promoter_score

__all__ = [
    "HAPPY_INDEX",
    "NPS",
    "NPS_GROUP_SHARE",
    "RAW_FIGURES",
    "Figure",
    "FigureProvider",
    "GaugeSpec",
    "RawFigures",
]


@dataclass(frozen=True, slots=True)
class GaugeSpec:
    """A gauge family: its name, help text and the labels after ``store`` and ``window``."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()


#: One sample: the family's name, the values of its own labels (in order), the value.
#: A plain tuple: a scrape makes over 100,000 of them.
Figure = tuple[str, tuple[str, ...], float]


class FigureProvider(Protocol):
    """Figures computed from the sums of one window of one store."""

    def gauges(self) -> Sequence[GaugeSpec]:
        """The families this provider adds samples to."""
        ...

    def prepare(
        self, window: str, statistics: Mapping[str, Statistics], settled: Mapping[str, Statistics]
    ) -> None:
        """Every store's sums of ``window`` (all, settled), before this scrape's ``figures``."""
        ...

    def figures(
        self, store_id: str, window: str, statistics: Statistics, settled: Statistics
    ) -> Iterable[Figure]:
        """The samples of one store and window (leave undefined figures out)."""
        ...


HAPPY_INDEX = GaugeSpec(
    "kioskpulse_happy_index",
    "Happy Index 0-100 (100 * mean of i/(k-1), i=0 for the worst button) in the window.",
    ("method",),
)
RATING_SHARE = GaugeSpec(
    "kioskpulse_rating_share",
    "Share of the counted presses on kiosks of this scale that chose this rating (1 = worst; "
    "0..10 on NPS kiosks, scale 11).",
    ("scale", "rating"),
)
NPS = GaugeSpec(
    "kioskpulse_nps",
    "Net Promoter Score -100..100 (share of 9-10 minus share of 0-6, in points) of the NPS "
    "kiosks (scale 11) in the window; only stores with NPS presses.",
    ("method",),
)
NPS_GROUP_SHARE = GaugeSpec(
    "kioskpulse_nps_group_share",
    "Share of the promoters (9-10), passives (7-8) and detractors (0-6) on the NPS kiosks.",
    ("group", "method"),
)
VISITORS = GaugeSpec(
    "kioskpulse_window_visitors", "Visitors counted by floor cameras (closed visits) in the window."
)
RESPONSE_RATE = GaugeSpec(
    "kioskpulse_response_rate",
    "Counted presses per floor-camera visitor in the window's settled buckets "
    "(kioskpulse_store_settled_until_timestamp_seconds).",
)
LINKED_PRESSES = GaugeSpec(
    "kioskpulse_linked_presses",
    "Counted presses linked to a face seen by the kiosk's camera in the window.",
)
EXPRESSION_SHARE = GaugeSpec(
    "kioskpulse_expression_share",
    "Share of the window's visitors whose dominant expression was this one.",
    ("expression",),
)
TONE_SHARE = GaugeSpec(
    "kioskpulse_tone_share",
    "Share of the window's visitors by emotional tone (interest, satisfaction, ...).",
    ("tone",),
)


class RawFigures:
    """What the presses and the floor cameras say, without bias correction."""

    def gauges(self) -> Sequence[GaugeSpec]:
        return (
            HAPPY_INDEX,
            RATING_SHARE,
            NPS,
            NPS_GROUP_SHARE,
            VISITORS,
            RESPONSE_RATE,
            LINKED_PRESSES,
            EXPRESSION_SHARE,
            TONE_SHARE,
        )

    def prepare(
        self, window: str, statistics: Mapping[str, Statistics], settled: Mapping[str, Statistics]
    ) -> None:
        """Each store's raw figures need its own sums only."""

    def figures(
        self, store_id: str, window: str, statistics: Statistics, settled: Statistics
    ) -> Iterable[Figure]:
        if (index := statistics.raw_happy_index()) is not None:
            yield (HAPPY_INDEX.name, ("raw",), index)
        for scale, sums in sorted(statistics.ratings.items()):
            for rating, share in zip(ratings_of(scale), sums.shares() or (), strict=False):
                yield (RATING_SHARE.name, (str(scale), str(rating)), share)
        groups = statistics.nps_group_presses()
        if groups is not None and (nps := net_promoter_score(groups)) is not None:
            yield (NPS.name, ("raw",), nps)
            total = sum(groups)
            for group, n in zip(NPS_GROUPS, groups, strict=True):
                yield (NPS_GROUP_SHARE.name, (group, "raw"), n / total)
        yield (VISITORS.name, (), statistics.visitors)
        # Presses per visitor from settled buckets only: the newest buckets' presses are
        # counted before their visitors, and would push the rate up.
        if (rate := settled.response_rate()) is not None:
            yield (RESPONSE_RATE.name, (), rate)
        yield (LINKED_PRESSES.name, (), statistics.linked_presses)
        for expression, share in zip(
            EXPRESSIONS, statistics.expression_shares() or (), strict=False
        ):
            yield (EXPRESSION_SHARE.name, (expression,), share)
        for tone, share in zip(TONES, statistics.tone_shares() or (), strict=False):
            yield (TONE_SHARE.name, (tone,), share)


#: The raw figures only (``corrected.default_providers()`` adds the bias correction).
RAW_FIGURES: tuple[FigureProvider, ...] = (RawFigures(),)
