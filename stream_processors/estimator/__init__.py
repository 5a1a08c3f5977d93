"""Bias correction: the satisfaction of every visitor, not only of those who pressed.

Label-shift estimation (derivation in docs/bias-correction.md) from
a window's additive sums, pure numpy, no I/O:

inputs    Statistics → μ, the soft confusion matrix C, the pool of C over stores
solve     θ on the simplex from μ = Cθ: BBSE (constrained least squares) or MLLS (EM)
          (``bounded``: the same on θ ≥ presses / visitors, the physical bound)
interval  the delta-method standard error of the corrected Happy Index
estimate  ``estimate`` / ``estimate_all``: screening, batching, ``Correction``
nps       the corrected NPS: the NPS kiosks' 11 scores as 3 groups, solved like a scale
"""

from stream_processors.estimator.estimate import (
    REASONS,
    Correction,
    EstimatorConfig,
    Reason,
    estimate,
    estimate_all,
)
from stream_processors.estimator.inputs import Pool, main_scale
from stream_processors.estimator.nps import (
    NpsCorrection,
    estimate_nps,
    estimate_nps_all,
    nps_pool,
)
from stream_processors.estimator.solve import Solver, bbse, mlls

__all__ = [
    "REASONS",
    "Correction",
    "EstimatorConfig",
    "NpsCorrection",
    "Pool",
    "Reason",
    "Solver",
    "bbse",
    "estimate",
    "estimate_all",
    "estimate_nps",
    "estimate_nps_all",
    "main_scale",
    "mlls",
    "nps_pool",
]
