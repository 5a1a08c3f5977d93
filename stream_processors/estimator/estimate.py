"""The public entry: every store's window in, a ``Correction`` (or the reason for none) out.

Stores are first screened one by one (enough visitors? a confusion matrix of their
own, or a pooled one?), then solved in batches of one scale, so that 2,000 stores
cost a few dozen numpy calls rather than 2,000 small solves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from kioskpulse.events import NPS_SCALE
from stream_processors.estimator.fit import chi2_survival, misfit
from stream_processors.estimator.inputs import (
    Array,
    LinkedSums,
    Pool,
    StoreInputs,
    T,
    Target,
    confusion_matrices,
    main_scale,
)
from stream_processors.estimator.interval import index_standard_error, index_weights
from stream_processors.estimator.solve import SOLVERS, Solver, bounded
from stream_processors.statistics import Statistics

__all__ = [
    "REASONS",
    "ConfusionSource",
    "Correction",
    "EstimatorConfig",
    "Reason",
    "Sample",
    "estimate",
    "estimate_all",
]

Reason = Literal[
    "ok",
    "no_presses",
    "too_few_visitors",
    "presses_exceed_visitors",
    "no_linked_presses",
    "too_few_linked_presses",
    "ill_conditioned",
    "label_shift_misfit",
]
#: Whose linked presses made C: the store's own, or every store's of the scale.
ConfusionSource = Literal["own", "pooled"]
#: Which camera's view C and the target come from (docs/bias-correction.md, "Domain
#: shift"): the floor camera's for both (its kiosk zone links presses), the kiosk
#: camera's for both (its passers-by are the target), or C from the kiosk camera and
#: the target from the floor camera (label shift across two views: the weakest).
Sample = Literal["kiosk_zone", "kiosk_camera", "cross_camera"]

#: Every value of ``Correction.reason``: a bounded label set.
REASONS: tuple[Reason, ...] = get_args(Reason)


@dataclass(frozen=True, slots=True)
class EstimatorConfig:
    """When a store's data are enough, and how to estimate (defaults: docs/bias-correction.md)."""

    solver: Solver = "bbse"
    #: Below this, μ is too noisy for the interval's normal approximation.
    min_visitors: int = 50
    #: A column of C from fewer linked presses than this is not trusted; a store whose
    #: own C has such a column uses the pooled one (if that has enough).
    min_linked_per_level: int = 5
    #: Beyond this condition number of C, θ is noise amplified: no figure.
    max_condition: float = 100.0
    confidence: float = 0.95
    #: The kiosk cameras' tracks stand for every visitor only where nearly everyone
    #: passes a kiosk (at the exit): at least this share of the floor's visitors. Else
    #: they are mostly the pressers themselves, whose mean is the raw index's.
    min_kiosk_camera_share: float = 0.8
    #: Below this p-value of the label-shift fit (``fit.misfit``) the model is rejected:
    #: no figure, reason ``label_shift_misfit``. 0 turns the test off. 0.05, not 0.01:
    #: the test is conservative (no store refused without a shift in the study), and at
    #: 0.01 a moderate shift still showed a confidently wrong figure in 23 % of stores.
    min_fit_p_value: float = 0.05


DEFAULT_CONFIG = EstimatorConfig()


@dataclass(frozen=True, slots=True)
class Correction:
    """The bias-corrected figures of one store's window, on its main scale; or why none."""

    reason: Reason
    scale: int | None = None
    confusion: ConfusionSource | None = None
    condition_number: float | None = None
    #: θ, the share of all visitors at each level 1..scale.
    theta: tuple[float, ...] = ()
    #: The corrected index 100 · aᵀθ (``estimate_all``'s weights): the Happy Index, or
    #: the NPS where ``nps`` solves the three NPS groups.
    happy_index: float | None = None
    lower: float | None = None
    upper: float | None = None
    #: rho_s = presses_s / (visitors · θ_s); None where θ_s · visitors < 1.
    propensities: tuple[float | None, ...] = field(default=())
    #: rho_1 / rho_scale, the negative-feedback bias factor.
    bias_factor: float | None = None
    #: Levels (1..scale) whose unconstrained θ fell below presses / visitors, so that θ
    #: was solved under the physical bound θ_s ≥ presses_s / visitors; () where it held.
    bounded_levels: tuple[int, ...] = ()
    #: Which views C and the target came from (``Sample``).
    sample: Sample | None = None
    #: P(χ² ≥ the fit's X²) under label shift: small when the views disagree (``fit``).
    fit_p_value: float | None = None

    @property
    def bounded(self) -> bool:
        """Whether the physical bound changed θ (docs/bias-correction.md, "Physical bounds")."""
        return bool(self.bounded_levels)

    @property
    def available(self) -> bool:
        return self.reason == "ok"

    def to_json(self) -> dict[str, Any]:
        """The JSON summary's ``corrected`` object (levels keyed "1".."scale")."""

        def levels(values: tuple[float | None, ...]) -> dict[str, float | None] | None:
            return {str(i): v for i, v in enumerate(values, start=1)} if values else None

        return {
            "available": self.available,
            "reason": self.reason,
            "scale": self.scale,
            "confusion": self.confusion,
            "condition_number": self.condition_number,
            "happy_index": self.happy_index,
            "happy_index_lower": self.lower,
            "happy_index_upper": self.upper,
            "shares": levels(self.theta),
            "response_propensity": levels(self.propensities),
            "negative_bias_factor": self.bias_factor,
            "bounded_levels": list(self.bounded_levels) if self.available else None,
            "sample": self.sample,
            "fit_p_value": self.fit_p_value,
        }


def estimate(
    statistics: Statistics, pooled: Pool | None = None, config: EstimatorConfig = DEFAULT_CONFIG
) -> Correction:
    """The correction of one store's window; ``pooled`` serves if it has no C of its own."""
    return estimate_all({"": statistics}, config, pool=pooled or Pool())[""]


def estimate_all(
    statistics: Mapping[str, Statistics],
    config: EstimatorConfig = DEFAULT_CONFIG,
    *,
    pool: Pool | None = None,
    weights: Callable[[int], Array] = index_weights,
) -> dict[str, Correction]:
    """Every store's correction; C is pooled over all of ``statistics`` unless ``pool`` is given.

    ``weights(k)``: the index as a linear functional 100 · aᵀθ of the k levels' shares
    (``Correction.happy_index`` and its interval); the Happy Index's by default, the
    NPS's for the three NPS groups (``nps.estimate_nps_all``).
    """
    pool = Pool.of(statistics.values()) if pool is None else pool
    corrections: dict[str, Correction] = {}
    ready: dict[int, list[_Candidate]] = {}
    for store_id, window in statistics.items():
        scale = main_scale(window)
        if scale is None:
            # Presses on NPS kiosks only: 11 levels cannot be told apart by 7 expressions
            # (C would be singular); the NPS's three groups can (``nps``).
            nps = NPS_SCALE in window.ratings and any(window.ratings[NPS_SCALE].presses)
            corrections[store_id] = (
                Correction("ill_conditioned", NPS_SCALE) if nps else Correction("no_presses")
            )
            continue
        inputs = StoreInputs.of(window, scale)
        if inputs.floor.count < max(config.min_visitors, 1):
            corrections[store_id] = Correction("too_few_visitors", scale)
            continue
        # The pressers are some of the visitors: presses beyond them are a fault of the
        # counts (floor cameras missing people, kiosk presses of another store), and no θ
        # can make every propensity ≤ 1. Refuse rather than bend the data.
        if inputs.presses.sum() > inputs.visitors:
            corrections[store_id] = Correction("presses_exceed_visitors", scale)
            continue
        chosen = _sample(inputs, pool.get(scale), config)
        if isinstance(chosen, str):
            corrections[store_id] = Correction(chosen, scale)
            continue
        ready.setdefault(scale, []).append(_Candidate(store_id, inputs, *chosen))
    for scale, candidates in ready.items():
        corrections.update(_solve_scale(scale, candidates, config, weights(scale)))
    return {store_id: corrections[store_id] for store_id in statistics}


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A store with enough data to solve, and the linked sums its C comes from."""

    store_id: str
    inputs: StoreInputs
    linked: LinkedSums
    source: ConfusionSource
    sample: Sample
    target: Target


def _sample(
    inputs: StoreInputs, pooled: LinkedSums, config: EstimatorConfig
) -> tuple[LinkedSums, ConfusionSource, Sample, Target] | Reason:
    """C and the target from one camera's view where the store has the data, else across.

    A kiosk zone first: its target is every floor visitor. Then the kiosk camera's
    passers-by: the visitors who passed the kiosk, all of them only where everyone does
    (a kiosk at the exit), used only where they number ``min_kiosk_camera_share`` of
    the floor's visitors. Each needs the store's own links (another store's cameras
    see faces from other angles)."""
    enough = max(config.min_linked_per_level, 1)
    if inputs.zone_linked.counts.min() >= enough:
        return inputs.zone_linked, "own", "kiosk_zone", inputs.floor
    kiosk = inputs.kiosk_camera
    passers = max(config.min_visitors, config.min_kiosk_camera_share * inputs.visitors, 1)
    if kiosk.count >= passers and inputs.linked.counts.min() >= enough:
        return inputs.linked, "own", "kiosk_camera", kiosk
    chosen = _confusion_source(inputs.linked, pooled, config)
    if isinstance(chosen, str):
        return chosen
    return (*chosen, "cross_camera", inputs.floor)


def _confusion_source(
    own: LinkedSums, pooled: LinkedSums, config: EstimatorConfig
) -> tuple[LinkedSums, ConfusionSource] | Reason:
    enough = max(config.min_linked_per_level, 1)  # a column needs one press at least
    if own.counts.min() >= enough:
        return own, "own"
    if pooled.counts.min() >= enough:
        return pooled, "pooled"
    if not own.counts.any() and not pooled.counts.any():
        return "no_linked_presses"
    return "too_few_linked_presses"


def _condition_numbers(confusion: Array) -> Array:
    """Largest over smallest singular value of each C (inf if singular), via CᵀC."""
    eigenvalues = np.linalg.eigvalsh(np.einsum("bes,bet->bst", confusion, confusion))
    smallest, largest = eigenvalues[:, 0], eigenvalues[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(smallest > 0, largest / smallest, np.inf)
    condition: Array = np.sqrt(ratio)
    return condition


def _linked_second(linked: LinkedSums) -> Array:
    """Per level, the linked presses' mean of p pᵀ (k, 28); NaN where unknown.

    Every level has linked presses here (the screening made sure), so a level whose sum
    of squares is 0 was made without second moments, not measured as 0.
    """
    k = len(linked.counts)
    squares = linked.squares
    if squares is None or not squares.any(axis=1).all():
        return np.full((k, T), np.nan)
    second: Array = squares / linked.counts[:, None]
    return second


def _solve_scale(
    scale: int, candidates: list[_Candidate], config: EstimatorConfig, weights: Array
) -> dict[str, Correction]:
    """Screen the conditioning of C, then solve and bound every remaining store at once."""
    confusion = confusion_matrices([c.linked for c in candidates])
    condition = _condition_numbers(confusion)
    good = condition <= config.max_condition  # NaN and inf are not
    corrections = {
        c.store_id: Correction("ill_conditioned", scale)
        for c, ok in zip(candidates, good, strict=True)
        if not ok
    }
    kept = [c for c, ok in zip(candidates, good, strict=True) if ok]
    if not kept:
        return corrections
    confusion, condition = confusion[good], condition[good]
    mean = np.stack([c.target.mean for c in kept])
    visitors = np.array([c.inputs.visitors for c in kept], dtype=np.float64)
    read = np.array([c.target.count for c in kept], dtype=np.float64)
    presses = np.stack([c.inputs.presses for c in kept])
    theta, raised = _physically_bounded(config.solver, confusion, mean, presses / visitors[:, None])
    linked_counts = np.stack([c.linked.counts for c in kept])
    seconds = {
        "target_second": np.stack([c.target.second for c in kept]),
        "linked_second": np.stack([_linked_second(c.linked) for c in kept]),
    }
    likelihood = config.solver == "mlls"
    standard_error = index_standard_error(
        confusion,
        theta,
        mean,
        read,
        linked_counts,
        likelihood_weights=likelihood,
        visitor_second=seconds["target_second"],
        linked_second=seconds["linked_second"],
        weights=weights,
    )
    # The model check reads the expressions only: the least-squares fit without the
    # physical bound (a bound that binds has its own flag), exact, whatever the solver.
    fitted = (
        theta if config.solver == "bbse" and not raised.any() else SOLVERS["bbse"](confusion, mean)
    )
    statistic, df = misfit(
        confusion, fitted, mean, read, linked_counts, likelihood_weights=False, **seconds
    )
    fit_p = [chi2_survival(x, df) for x in statistic.tolist()]
    index = 100.0 * theta @ weights
    half_width = NormalDist().inv_cdf(0.5 + config.confidence / 2) * standard_error
    # The interval stays where θ can be: θ ≥ presses / visitors puts the index between
    # 100 · (aᵀl + min(a) · slack) (the slack 1 - Σl all at the worst level) and
    # 100 · (aᵀl + max(a) · slack) (all at the best). For l = 0 this is 0..100 for the
    # Happy Index, -100..100 for the NPS; the point estimate is inside by construction.
    least = presses / visitors[:, None]
    slack = np.maximum(1.0 - least.sum(axis=1), 0.0)
    lowest_index = 100.0 * (least @ weights + weights.min() * slack)
    highest_index = 100.0 * (least @ weights + weights.max() * slack)
    # rho_s = presses_s / (visitors · θ_s), where a level has a visitor's worth of θ at least.
    expected = visitors[:, None] * theta
    # θ_s ≥ presses_s / visitors makes rho_s ≤ 1; the minimum only absorbs the rounding of
    # visitors · (presses_s / visitors), a last bit either way.
    propensity = np.where(
        expected >= 1.0, np.minimum(presses / np.maximum(expected, 1.0), 1.0), np.nan
    )
    rows = zip(
        kept,
        condition.tolist(),
        theta.tolist(),
        index.tolist(),
        np.clip(index - half_width, lowest_index, highest_index).tolist(),
        np.clip(index + half_width, lowest_index, highest_index).tolist(),
        propensity.tolist(),
        raised.tolist(),
        fit_p,
        strict=True,
    )
    for candidate, cond, shares, hi, lower, upper, rho, below, p in rows:
        if p < config.min_fit_p_value:
            # The target is no mixture of C's columns: a camera reads faces differently
            # from the one C was learned on, and θ would be confidently wrong.
            corrections[candidate.store_id] = Correction(
                "label_shift_misfit",
                scale,
                confusion=candidate.source,
                condition_number=cond,
                sample=candidate.sample,
                fit_p_value=p,
            )
            continue
        rho_or_none = tuple(None if math.isnan(r) else r for r in rho)
        lowest, highest = rho_or_none[0], rho_or_none[-1]
        corrections[candidate.store_id] = Correction(
            reason="ok",
            scale=scale,
            confusion=candidate.source,
            condition_number=cond,
            theta=tuple(shares),
            happy_index=hi,
            lower=lower,
            upper=upper,
            propensities=rho_or_none,
            bias_factor=lowest / highest if lowest is not None and highest else None,
            bounded_levels=tuple(s for s, b in enumerate(below, start=1) if b),
            sample=candidate.sample,
            fit_p_value=p,
        )
    return corrections


def _physically_bounded(
    solver: Solver, confusion: Array, mean: Array, least: Array
) -> tuple[Array, NDArray[np.bool_]]:
    """θ (B, k) under θ ≥ ``least`` = presses / visitors, and where it was below (B, k) bool.

    The unconstrained θ first: where it keeps the bound it is also the optimum on the
    smaller set, so those stores keep the unbounded θ bit for bit. Only the others are solved
    again, by the same solver under the bound (``solve.bounded``), in one batch.
    """
    theta = SOLVERS[solver](confusion, mean)
    below = theta < least
    broken = below.any(axis=1)
    if broken.any():
        theta = theta.copy()
        theta[broken] = bounded(solver, confusion[broken], mean[broken], least[broken])
    return theta, below
