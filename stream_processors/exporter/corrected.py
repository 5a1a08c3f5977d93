"""The bias-corrected figures (docs/bias-correction.md): the second ``FigureProvider``.

Only the settled buckets of each window count (``windows.AggregateWindows.settled_window``):
the newest buckets have their presses before all their visitors, and would bend the
shares and push the propensities up (issue 14); the raw figures keep every bucket.

Per scrape and window, ``prepare`` runs the estimator over every store at once: the
confusion matrix is pooled over all stores (for those without a kiosk camera) and
the stores are solved in batches, some 0.05 s for 2,000 stores and one window.
``figures`` then only reads the result. A store without a corrected figure gets
``kioskpulse_correction_available{reason="..."} 0`` and nothing else: no silent number.

``CorrectedNps`` does the same for the NPS kiosks (scale 11), on their three groups
(``estimator.nps``): ``kioskpulse_nps{method="corrected"}``, its interval and the groups'
shares, or ``kioskpulse_nps_correction_available{reason="..."} 0``; only for stores whose
window has NPS presses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from kioskpulse.events import NPS_GROUPS
from stream_processors.estimator import (
    Correction,
    EstimatorConfig,
    NpsCorrection,
    Pool,
    estimate,
    estimate_all,
    estimate_nps,
    estimate_nps_all,
    nps_pool,
)
from stream_processors.exporter.figures import (
    HAPPY_INDEX,
    NPS,
    NPS_GROUP_SHARE,
    Figure,
    FigureProvider,
    GaugeSpec,
    RawFigures,
)
from stream_processors.exporter.windows import AggregateWindows
from stream_processors.statistics import Statistics

__all__ = [
    "CorrectedFigures",
    "CorrectedNps",
    "correction_of",
    "default_providers",
    "nps_correction_of",
]

HAPPY_INDEX_LOWER = GaugeSpec(
    "kioskpulse_happy_index_lower",
    "Lower end of the 95% confidence interval of the corrected Happy Index.",
)
HAPPY_INDEX_UPPER = GaugeSpec(
    "kioskpulse_happy_index_upper",
    "Upper end of the 95% confidence interval of the corrected Happy Index.",
)
SATISFACTION_SHARE = GaugeSpec(
    "kioskpulse_satisfaction_share",
    "Estimated share of all visitors at this rating (1 = worst) of the store's main kiosk scale.",
    ("rating", "method"),
)
RESPONSE_PROPENSITY = GaugeSpec(
    "kioskpulse_response_propensity",
    "Presses per visitor among the visitors at this rating (presses / (visitors * share)).",
    ("rating",),
)
NEGATIVE_BIAS_FACTOR = GaugeSpec(
    "kioskpulse_negative_bias_factor",
    "Response propensity of the worst rating divided by that of the best one.",
)
CORRECTION_BOUNDED = GaugeSpec(
    "kioskpulse_correction_bounded",
    "1 if the corrected shares were solved under the physical bound share >= presses / "
    "visitors (the unbounded estimate fell below it), else 0; only with corrected figures.",
)
CORRECTION_SAMPLE = GaugeSpec(
    "kioskpulse_correction_sample",
    "1 for the views the corrected figures came from (kiosk_zone: the floor camera's view of "
    "the pressers in a kiosk zone; kiosk_camera: the kiosk camera's passers-by; "
    "cross_camera: C from the kiosk camera, the visitors from the floor cameras).",
    ("sample",),
)
CORRECTION_FIT_P_VALUE = GaugeSpec(
    "kioskpulse_correction_fit_p_value",
    "p-value of the label-shift fit test: below 0.05 the figures are withheld "
    "(reason label_shift_misfit: the cameras read faces differently).",
)
CORRECTION_AVAILABLE = GaugeSpec(
    "kioskpulse_correction_available",
    "1 if the window has corrected figures; 0 with the reason there are none.",
    ("reason",),
)


class CorrectedFigures:
    """What all visitors would have rated: label-shift estimation per store and window."""

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self._config = config or EstimatorConfig()
        self._latest: dict[str, dict[str, Correction]] = {}

    def gauges(self) -> Sequence[GaugeSpec]:
        return (
            HAPPY_INDEX,
            HAPPY_INDEX_LOWER,
            HAPPY_INDEX_UPPER,
            SATISFACTION_SHARE,
            RESPONSE_PROPENSITY,
            NEGATIVE_BIAS_FACTOR,
            CORRECTION_BOUNDED,
            CORRECTION_SAMPLE,
            CORRECTION_FIT_P_VALUE,
            CORRECTION_AVAILABLE,
        )

    def prepare(
        self, window: str, statistics: Mapping[str, Statistics], settled: Mapping[str, Statistics]
    ) -> None:
        self._latest[window] = estimate_all(settled, self._config)

    def figures(
        self, store_id: str, window: str, statistics: Statistics, settled: Statistics
    ) -> Iterable[Figure]:
        correction = self._latest.get(window, {}).get(store_id)
        if correction is None:  # not prepared: the store alone, without a pooled C
            correction = estimate(settled, config=self._config)
        return _figures(correction)


def _figures(correction: Correction) -> Iterable[Figure]:
    yield (CORRECTION_AVAILABLE.name, (correction.reason,), float(correction.available))
    # Also beside a figure withheld by the fit test: which views disagreed, and how much.
    if correction.sample is not None:
        yield (CORRECTION_SAMPLE.name, (correction.sample,), 1.0)
    if correction.fit_p_value is not None:
        yield (CORRECTION_FIT_P_VALUE.name, (), correction.fit_p_value)
    if not correction.available or correction.happy_index is None:
        return
    yield (HAPPY_INDEX.name, ("corrected",), correction.happy_index)
    if correction.lower is not None and correction.upper is not None:
        yield (HAPPY_INDEX_LOWER.name, (), correction.lower)
        yield (HAPPY_INDEX_UPPER.name, (), correction.upper)
    for rating, share in enumerate(correction.theta, start=1):
        yield (SATISFACTION_SHARE.name, (str(rating), "corrected"), share)
    for rating, propensity in enumerate(correction.propensities, start=1):
        if propensity is not None:
            yield (RESPONSE_PROPENSITY.name, (str(rating),), propensity)
    if correction.bias_factor is not None:
        yield (NEGATIVE_BIAS_FACTOR.name, (), correction.bias_factor)
    yield (CORRECTION_BOUNDED.name, (), float(correction.bounded))


NPS_LOWER = GaugeSpec(
    "kioskpulse_nps_lower",
    "Lower end of the 95% confidence interval of the corrected NPS (-100..100).",
)
NPS_UPPER = GaugeSpec(
    "kioskpulse_nps_upper",
    "Upper end of the 95% confidence interval of the corrected NPS (-100..100).",
)
NPS_RESPONSE_PROPENSITY = GaugeSpec(
    "kioskpulse_nps_response_propensity",
    "NPS kiosk presses per visitor among the visitors of this group (detractor, passive, "
    "promoter): presses / (visitors * corrected share).",
    ("group",),
)
NPS_DETRACTOR_BIAS_FACTOR = GaugeSpec(
    "kioskpulse_nps_detractor_bias_factor",
    "Response propensity of the NPS detractors divided by that of the promoters.",
)
NPS_CORRECTION_AVAILABLE = GaugeSpec(
    "kioskpulse_nps_correction_available",
    "1 if the window has a corrected NPS; 0 with the reason there is none (the reasons of "
    "kioskpulse_correction_available); only stores with NPS presses in the window.",
    ("reason",),
)


class CorrectedNps:
    """The NPS of all visitors: label shift on the three NPS groups (``estimator.nps``)."""

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self._config = config or EstimatorConfig()
        self._latest: dict[str, dict[str, NpsCorrection]] = {}

    def gauges(self) -> Sequence[GaugeSpec]:
        return (
            NPS,
            NPS_GROUP_SHARE,
            NPS_LOWER,
            NPS_UPPER,
            NPS_RESPONSE_PROPENSITY,
            NPS_DETRACTOR_BIAS_FACTOR,
            NPS_CORRECTION_AVAILABLE,
        )

    def prepare(
        self, window: str, statistics: Mapping[str, Statistics], settled: Mapping[str, Statistics]
    ) -> None:
        self._latest[window] = estimate_nps_all(settled, self._config)

    def figures(
        self, store_id: str, window: str, statistics: Statistics, settled: Statistics
    ) -> Iterable[Figure]:
        if statistics.nps_group_presses() is None:  # no NPS kiosk pressed: nothing to say
            return ()
        correction = self._latest.get(window, {}).get(store_id)
        if correction is None:
            correction = estimate_nps(settled, config=self._config)
        return _nps_figures(correction)


def _nps_figures(correction: NpsCorrection) -> Iterable[Figure]:
    yield (NPS_CORRECTION_AVAILABLE.name, (correction.reason,), float(correction.available))
    if not correction.available or correction.nps is None:
        return
    yield (NPS.name, ("corrected",), correction.nps)
    if correction.lower is not None and correction.upper is not None:
        yield (NPS_LOWER.name, (), correction.lower)
        yield (NPS_UPPER.name, (), correction.upper)
    for group, share in zip(NPS_GROUPS, correction.shares, strict=True):
        yield (NPS_GROUP_SHARE.name, (group, "corrected"), share)
    for group, propensity in zip(NPS_GROUPS, correction.propensities, strict=True):
        if propensity is not None:
            yield (NPS_RESPONSE_PROPENSITY.name, (group,), propensity)
    if correction.bias_factor is not None:
        yield (NPS_DETRACTOR_BIAS_FACTOR.name, (), correction.bias_factor)


def default_providers() -> tuple[FigureProvider, ...]:
    """The exporter's figures: raw and corrected (fresh instances: the latter keep state)."""
    return (RawFigures(), CorrectedFigures(), CorrectedNps())


def correction_of(
    windows: AggregateWindows,
    store_id: str,
    window: str,
    now: datetime,
    config: EstimatorConfig | None = None,
) -> Correction:
    """One store's correction from settled buckets, with C pooled over every store's
    (for the JSON summary)."""
    every_store = [windows.settled_window(other, window, now) for other in windows.stores()]
    return estimate(
        windows.settled_window(store_id, window, now),
        Pool.of(every_store),
        config or EstimatorConfig(),
    )


def nps_correction_of(
    windows: AggregateWindows,
    store_id: str,
    window: str,
    now: datetime,
    config: EstimatorConfig | None = None,
) -> NpsCorrection:
    """One store's corrected NPS from settled buckets, with C pooled over every store's NPS
    kiosks (for the JSON summary)."""
    every_store = {other: windows.settled_window(other, window, now) for other in windows.stores()}
    return estimate_nps(
        windows.settled_window(store_id, window, now),
        nps_pool(every_store),
        config or EstimatorConfig(),
    )
