"""What really happened in a simulated store: the yardstick for the bias correction.

The driver records a visitor when it arrives and a press when it is posted, so the
tallies describe what the API was shown, not what a cut-short run had planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kioskpulse.events import NPS_GROUPS, NPS_SCALE, nps_group
from kioskpulse.simulation.model import (
    PlannedPress,
    StoreModel,
    Visitor,
    happy_index,
    nps_of,
    theta_for_scale,
)

__all__ = ["StoreTruth"]


@dataclass
class StoreTruth:
    """The ground truth of one store; levels are on the store's scale (its largest kiosk)."""

    store_id: str
    scale: int
    theta: tuple[float, ...]
    propensities: tuple[float, ...]
    kiosk_scales: tuple[int, ...]
    visitors_by_level: list[int] = field(default_factory=list)
    presses_by_level: list[int] = field(default_factory=list)
    #: Wanted to press but every kiosk stayed busy (misuse interval) past their patience.
    gave_up_pressing: int = 0
    #: The store's NPS kiosks (scale 11), and their presses per group (NPS_GROUPS).
    nps_kiosks: frozenset[str] = frozenset()
    nps_presses_by_group: list[int] = field(default_factory=lambda: [0] * len(NPS_GROUPS))

    @classmethod
    def of(cls, model: StoreModel) -> StoreTruth:
        return cls(
            store_id=model.store.store_id,
            scale=model.scale,
            theta=model.theta,
            propensities=model.propensities,
            kiosk_scales=tuple(sorted({kiosk.scale for kiosk in model.store.kiosks})),
            visitors_by_level=[0] * model.scale,
            presses_by_level=[0] * model.scale,
            nps_kiosks=frozenset(k.kiosk_id for k in model.store.kiosks if k.scale == NPS_SCALE),
        )

    @property
    def happy_index(self) -> float:
        """The true HI of all visitors' θ."""
        return happy_index(self.theta)

    @property
    def nps(self) -> float | None:
        """The true NPS of all visitors' θ; None unless the store has NPS kiosks (its
        scale is then the NPS scale)."""
        return nps_of(self.theta) if self.scale == NPS_SCALE else None

    @property
    def visitors_nps(self) -> float | None:
        """The NPS of the visitors who came (their levels drawn from θ): what an estimate
        from this run's faces can recover at best; None as ``nps``, or without visitors."""
        if self.scale != NPS_SCALE or not self.visitors:
            return None
        return nps_of([n / self.visitors for n in self.visitors_by_level])

    @property
    def raw_nps(self) -> float | None:
        """The NPS of the NPS kiosks' presses alone: what the kiosks would show."""
        total = sum(self.nps_presses_by_group)
        if not total:
            return None
        detractors, _, promoters = self.nps_presses_by_group
        return 100.0 * (promoters - detractors) / total

    @property
    def visitors(self) -> int:
        return sum(self.visitors_by_level)

    @property
    def presses(self) -> int:
        return sum(self.presses_by_level)

    @property
    def raw_happy_index(self) -> float | None:
        """The HI of the presses alone: what a kiosk-only report would show."""
        if not self.presses:
            return None
        return happy_index([n / self.presses for n in self.presses_by_level])

    def record_visitor(self, visitor: Visitor) -> None:
        self.visitors_by_level[visitor.level - 1] += 1
        self.gave_up_pressing += visitor.gave_up_pressing

    def record_press(self, press: PlannedPress) -> None:
        self.presses_by_level[press.level - 1] += 1
        if press.kiosk_id in self.nps_kiosks:
            self.nps_presses_by_group[nps_group(press.rating)] += 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary, including θ as each of the store's kiosk scales sees it."""
        return {
            "store_id": self.store_id,
            "scale": self.scale,
            "theta": list(self.theta),
            "happy_index": self.happy_index,
            "theta_by_kiosk_scale": {
                str(scale): list(theta_for_scale(self.theta, scale)) for scale in self.kiosk_scales
            },
            "press_propensities": list(self.propensities),
            "visitors": self.visitors,
            "visitors_by_level": list(self.visitors_by_level),
            "presses": self.presses,
            "presses_by_level": list(self.presses_by_level),
            "raw_happy_index": self.raw_happy_index,
            "nps": self.nps,
            "visitors_nps": self.visitors_nps,
            "raw_nps": self.raw_nps,
            "gave_up_pressing": self.gave_up_pressing,
        }
