"""The corrected Net Promoter Score: label shift on the three NPS groups.

An NPS kiosk (scale 11) has 11 levels, and the expression model gives 7 numbers: an
11-column confusion matrix is singular, and even its neighbouring scores look alike.
What the NPS needs is coarser: the shares of detractors (0..6), passives (7..8) and
promoters (9..10). So every sum of the NPS kiosks' presses (counts, linked sums, their
second moments, kiosk-zone links) is added up per group, which keeps it additive, and
the estimator solves that three-level problem like any 3-button kiosk: C is 7×3, with
the same screening, physical bound, fit test and pooling (over the stores' NPS kiosks
only). The NPS is the linear functional 100 · (θ_promoter - θ_detractor) of θ, so its
interval is the delta method's with the weights (-1, 0, 1) (``interval``).

The grouping assumes what label shift assumes, per group: within a group, how a face
looks does not depend on whether the person presses. It holds where the propensity to
press depends on the group (a detractor presses more than a promoter); where it also
varies within a group, the group's C is learned from a mix of its scores that differs
from the floor's, a bias that grows with that variation (docs/bias-correction.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kioskpulse.events import NPS_GROUP_SCORES, NPS_GROUPS, NPS_SCALE, level_of
from stream_processors.estimator.estimate import (
    DEFAULT_CONFIG,
    ConfusionSource,
    Correction,
    EstimatorConfig,
    Reason,
    Sample,
    estimate_all,
)
from stream_processors.estimator.inputs import Array, Pool
from stream_processors.statistics import ScaleSums, Statistics, ViewSums

__all__ = [
    "NPS_WEIGHTS",
    "NpsCorrection",
    "estimate_nps",
    "estimate_nps_all",
    "grouped",
    "nps_pool",
]

#: The NPS as 100 · aᵀθ over the groups (detractor, passive, promoter).
NPS_WEIGHTS: Array = np.array([-1.0, 0.0, 1.0])

#: The levels (indices in the NPS kiosks' per-level lists) of each group.
_GROUP_LEVELS = tuple(
    tuple(level_of(score, NPS_SCALE) for score in scores) for scores in NPS_GROUP_SCORES
)


def _add(rows: list[list[float]], levels: tuple[int, ...]) -> list[float]:
    return [sum(values) for values in zip(*(rows[level] for level in levels), strict=True)]


def _add_views(views: list[ViewSums], levels: tuple[int, ...]) -> ViewSums:
    total = ViewSums()
    for level in levels:
        total = total + views[level]
    return total


def grouped(sums: ScaleSums) -> ScaleSums:
    """The NPS kiosks' sums (11 levels, scores 0..10) as three levels, one per group."""
    if sums.scale != NPS_SCALE:
        raise ValueError(f"NPS groups need the sums of scale {NPS_SCALE}, not {sums.scale}")
    groups = _GROUP_LEVELS
    return ScaleSums(
        len(groups),
        [sum(sums.presses[level] for level in levels) for levels in groups],
        sums.suppressed,
        [sum(sums.linked_presses[level] for level in levels) for levels in groups],
        [_add(sums.linked_prob_sums, levels) for levels in groups],
        [_add(sums.linked_prob_sq_sums, levels) for levels in groups],
        sums.linked_sq_missing,
        [_add_views(sums.zone_linked, levels) for levels in groups],
    )


def _nps_view(statistics: Statistics) -> Statistics:
    """The window with its NPS kiosks' presses as three levels, and no other presses."""
    sums = statistics.ratings[NPS_SCALE]
    return dataclasses.replace(statistics, ratings={len(NPS_GROUPS): grouped(sums)})


@dataclass(frozen=True, slots=True)
class NpsCorrection:
    """The corrected NPS of one store's window; or why there is none."""

    reason: Reason
    confusion: ConfusionSource | None = None
    condition_number: float | None = None
    #: θ over the groups (detractor, passive, promoter): their shares of all visitors.
    shares: tuple[float, ...] = ()
    nps: float | None = None
    lower: float | None = None
    upper: float | None = None
    #: Presses per visitor in each group; None where its visitors are fewer than 1.
    propensities: tuple[float | None, ...] = ()
    #: Detractors' propensity over promoters'.
    bias_factor: float | None = None
    #: Groups whose unbounded share fell below presses / visitors (physical bound).
    bounded_groups: tuple[str, ...] = ()
    sample: Sample | None = None
    fit_p_value: float | None = None

    @property
    def available(self) -> bool:
        return self.reason == "ok"

    @classmethod
    def of(cls, correction: Correction) -> NpsCorrection:
        """From the estimator's correction of the three groups (its index is the NPS)."""
        return cls(
            reason=correction.reason,
            confusion=correction.confusion,
            condition_number=correction.condition_number,
            shares=correction.theta,
            nps=correction.happy_index,
            lower=correction.lower,
            upper=correction.upper,
            propensities=correction.propensities,
            bias_factor=correction.bias_factor,
            bounded_groups=tuple(NPS_GROUPS[level - 1] for level in correction.bounded_levels),
            sample=correction.sample,
            fit_p_value=correction.fit_p_value,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON summary's ``corrected_nps`` object (groups keyed by name)."""

        def groups(values: tuple[float | None, ...]) -> dict[str, float | None] | None:
            return dict(zip(NPS_GROUPS, values, strict=True)) if values else None

        return {
            "available": self.available,
            "reason": self.reason,
            "confusion": self.confusion,
            "condition_number": self.condition_number,
            "nps": self.nps,
            "nps_lower": self.lower,
            "nps_upper": self.upper,
            "group_shares": groups(self.shares),
            "response_propensity": groups(self.propensities),
            "detractor_bias_factor": self.bias_factor,
            "bounded_groups": list(self.bounded_groups) if self.available else None,
            "sample": self.sample,
            "fit_p_value": self.fit_p_value,
        }


def estimate_nps_all(
    statistics: Mapping[str, Statistics],
    config: EstimatorConfig = DEFAULT_CONFIG,
    *,
    pool: Pool | None = None,
) -> dict[str, NpsCorrection]:
    """Every store's corrected NPS; C is pooled over the NPS kiosks of all of ``statistics``
    unless ``pool`` (of grouped sums: ``nps_pool``) is given. A store without NPS presses
    gets the reason ``no_presses``."""
    views = {
        store_id: _nps_view(window)
        for store_id, window in statistics.items()
        if NPS_SCALE in statistics[store_id].ratings
    }
    solved = estimate_all(
        views, config, pool=Pool.of(views.values()) if pool is None else pool, weights=_weights
    )
    return {
        store_id: NpsCorrection.of(solved[store_id])
        if store_id in solved
        else NpsCorrection("no_presses")
        for store_id in statistics
    }


def nps_pool(statistics: Mapping[str, Statistics]) -> Pool:
    """The pooled linked sums of every store's NPS kiosks, as three groups."""
    return Pool.of(
        _nps_view(window) for window in statistics.values() if NPS_SCALE in window.ratings
    )


def estimate_nps(
    statistics: Statistics, pooled: Pool | None = None, config: EstimatorConfig = DEFAULT_CONFIG
) -> NpsCorrection:
    """The corrected NPS of one store's window; ``pooled`` (``nps_pool``) serves if it has
    no C of its own."""
    return estimate_nps_all({"": statistics}, config, pool=pooled or Pool())[""]


def _weights(k: int) -> Array:
    if k != len(NPS_WEIGHTS):
        raise ValueError(f"the NPS weighs {len(NPS_WEIGHTS)} groups, not {k} levels")
    return NPS_WEIGHTS
