"""The JSON of the read API: a store's window in figures an operations team reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kioskpulse.events import EXPRESSIONS, NPS_GROUPS, TONES, ratings_of
from stream_processors.exporter.corrected import correction_of, nps_correction_of
from stream_processors.exporter.windows import AggregateWindows, WindowName, window_seconds
from stream_processors.statistics import ScaleSums, net_promoter_score

__all__ = [
    "FollowupReason",
    "KioskSummary",
    "ScaleSummary",
    "StoreListing",
    "StoreSummary",
    "list_stores",
    "summarise",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ScaleSummary(_Model):
    """Presses on the store's kiosks of one scale; levels run 1 (worst) .. scale, or 0..10
    on NPS kiosks (scale 11)."""

    presses: dict[str, int] = Field(description="counted presses by level")
    shares: dict[str, float] | None = Field(description="share of each level; null without presses")
    suppressed: int
    linked_presses: int


class FollowupReason(_Model):
    """How many follow-up answers in the window gave one reason."""

    reason: str
    count: int


class KioskSummary(_Model):
    last_seen: datetime
    buffered: int


class StoreSummary(_Model):
    """One store, one window (``from`` .. ``to``; edge buckets count whole)."""

    store: str
    window: WindowName
    from_: datetime = Field(alias="from")
    to: datetime
    presses: int
    presses_by_scale: dict[str, ScaleSummary]
    suppressed: int
    happy_index_raw: float | None = Field(description="0..100; null without presses")
    nps_raw: float | None = Field(
        None, description="NPS of the NPS kiosks' presses, -100..100; null without them"
    )
    nps_group_shares_raw: dict[str, float] | None = Field(
        None,
        description="detractor, passive and promoter shares of the NPS kiosks' presses; null "
        "without them",
    )
    visitors: int
    response_rate: float | None = Field(
        description="presses per visitor in the settled buckets (settled_until); null "
        "without visitors there"
    )
    linked_presses: int
    expression_shares: dict[str, float] | None
    tone_shares: dict[str, float] | None
    kiosks: dict[str, KioskSummary]
    cameras_last_seen: dict[str, datetime]
    followup_reasons: list[FollowupReason] = Field(
        default_factory=list,
        description="why presses were unhappy: the reasons answered in the window, "
        "most answered first (ties by reason); empty without answers",
    )
    updated_at: datetime | None = Field(description="of the newest aggregate of the store")
    settled_until: datetime | None = Field(
        None,
        description="the buckets of the window that end at or before this time have all "
        "their visitors counted; response_rate and corrected use only those (the newest "
        "buckets have their presses first); the other figures use every bucket",
    )
    corrected: dict[str, Any] | None = Field(
        None,
        description=(
            "bias-corrected figures of the main scale (docs/bias-correction.md): available, "
            "reason, scale, confusion (own or pooled), condition_number, happy_index, "
            "happy_index_lower, happy_index_upper (95%), shares, response_propensity, "
            "negative_bias_factor, bounded_levels (levels whose unbounded share fell below "
            "presses / visitors, so the shares were solved under that physical bound; [] "
            "where it held); the figures are null unless available"
        ),
    )
    corrected_nps: dict[str, Any] | None = Field(
        None,
        description=(
            "the bias-corrected NPS of the NPS kiosks, on their three groups "
            "(docs/bias-correction.md): available, reason, confusion, condition_number, nps, "
            "nps_lower, nps_upper (95%), group_shares, response_propensity, "
            "detractor_bias_factor, bounded_groups, sample, fit_p_value; null without NPS "
            "presses in the window"
        ),
    )


class StoreListing(_Model):
    store: str
    kiosks: list[str]
    cameras: list[str]
    updated_at: datetime | None


def _levels(scale: int, values: list[int] | list[float]) -> dict[str, Any]:
    return {str(rating): value for rating, value in zip(ratings_of(scale), values, strict=True)}


def _scale(sums: ScaleSums) -> ScaleSummary:
    shares = sums.shares()
    return ScaleSummary(
        presses=_levels(sums.scale, sums.presses),
        shares=_levels(sums.scale, shares) if shares is not None else None,
        suppressed=sums.suppressed,
        linked_presses=sum(sums.linked_presses),
    )


def summarise(
    windows: AggregateWindows, store_id: str, window: WindowName, now: datetime
) -> StoreSummary:
    """The summary of ``store_id`` over ``window`` ending at ``now`` (KeyError if unknown)."""
    statistics = windows.window(store_id, window, now)
    view = windows.view(store_id, now)
    expressions = statistics.expression_shares()
    tones = statistics.tone_shares()
    nps_groups = statistics.nps_group_presses()
    return StoreSummary(
        store=store_id,
        window=window,
        from_=now - timedelta(seconds=window_seconds(window)),
        to=now,
        presses=statistics.presses,
        presses_by_scale={str(k): _scale(s) for k, s in sorted(statistics.ratings.items())},
        suppressed=statistics.suppressed,
        happy_index_raw=statistics.raw_happy_index(),
        visitors=statistics.visitors,
        response_rate=windows.settled_window(store_id, window, now).response_rate(),
        linked_presses=statistics.linked_presses,
        expression_shares=dict(zip(EXPRESSIONS, expressions, strict=True)) if expressions else None,
        tone_shares=dict(zip(TONES, tones, strict=True)) if tones else None,
        kiosks={
            k: KioskSummary(last_seen=s.last_seen, buffered=s.buffered)
            for k, s in sorted(view.kiosks.items())
        },
        cameras_last_seen=dict(sorted(view.cameras_last_seen.items())),
        followup_reasons=[
            FollowupReason(reason=reason, count=count)
            for reason, count in statistics.top_followups()
        ],
        updated_at=view.last_updated_at,
        settled_until=view.settled_until,
        corrected=correction_of(windows, store_id, window, now).to_json(),
        nps_raw=None if nps_groups is None else net_promoter_score(nps_groups),
        nps_group_shares_raw=None
        if nps_groups is None
        else {group: n / sum(nps_groups) for group, n in zip(NPS_GROUPS, nps_groups, strict=True)},
        corrected_nps=None
        if nps_groups is None
        else nps_correction_of(windows, store_id, window, now).to_json(),
    )


def list_stores(windows: AggregateWindows) -> list[StoreListing]:
    """Every store seen, with the kiosks and cameras seen in its aggregates."""
    listings = []
    for store_id in windows.stores():
        view = windows.view(store_id)
        listings.append(
            StoreListing(
                store=store_id,
                kiosks=sorted(view.kiosks),
                cameras=sorted(view.cameras_last_seen),
                updated_at=view.last_updated_at,
            )
        )
    return listings
