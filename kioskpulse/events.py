"""The event contracts: one definition of every message on every topic.

Producers and consumers alike import these models; nothing else defines a wire
format. JSON on the wire (pydantic v2), times are UTC with an explicit offset,
unknown fields are rejected, and every event carries ``schema_version``.

Each device-facing event comes in two layers:

    RatingSubmission      what a kiosk sends (the API request body)
      └─ RatingEvent      + identity stamped by the server from the device registry

so the fields a device may set are written once and the server-stamped ones
(store, kiosk, scale, receive time) can never come from a request body.

Frames are bytes on the wire; their metadata travels as Kafka headers
(``FrameHeaders``), as does the provenance of a dead letter (``DeadLetterHeaders``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "DEFAULT_FOLLOWUP_REASONS",
    "DISPLAY_SECONDS_BOUNDS",
    "EXPRESSIONS",
    "MAX_BATCH",
    "NPS_GROUPS",
    "NPS_GROUP_SCORES",
    "NPS_SCALE",
    "SCALES",
    "SCHEMA_VERSION",
    "TONES",
    "TONE_OF_EXPRESSION",
    "TRIANGLE",
    "BBox",
    "CameraRole",
    "Contract",
    "DeadLetterHeaders",
    "DeviceId",
    "DisplayLabel",
    "DisplayStatistics",
    "FaceObservation",
    "FollowupBatch",
    "FollowupEvent",
    "FollowupSubmission",
    "FollowupsBody",
    "FrameHeaders",
    "HeaderContract",
    "Heartbeat",
    "HeartbeatSubmission",
    "KioskStatus",
    "KioskZone",
    "ObservationBatch",
    "ObservationSubmission",
    "RatingBatch",
    "RatingEvent",
    "RatingSubmission",
    "RatingsBody",
    "ReasonId",
    "Scale",
    "ScaleStatistics",
    "StoreAggregate",
    "UtcDatetime",
    "aggregate_key",
    "describe_ratings",
    "level_of",
    "nps_group",
    "rating_of",
    "ratings_of",
]

SCHEMA_VERSION: Literal[1] = 1

#: Expression classes in the model's output order (vision/models/MODEL_CARD.md).
EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Coarse emotional tone of the floor: the dashboard's "mood of the floor".
TONES: tuple[str, ...] = ("interest", "satisfaction", "fear_anger", "apathy")

#: The tone of each expression class.
TONE_OF_EXPRESSION: dict[str, str] = {
    "angry": "fear_anger",
    "disgust": "fear_anger",
    "fear": "fear_anger",
    "happy": "satisfaction",
    "sad": "apathy",
    "surprise": "interest",
    "neutral": "apathy",
}

#: Most events one request may carry (a kiosk uploading its offline buffer).
MAX_BATCH = 500

#: Tolerance on the sum of an expression probability vector.
PROBS_SUM_TOLERANCE = 0.01

#: The (i, j) pairs, i ≤ j, of the upper triangle of an expression matrix, row-major:
#: (0,0), (0,1) .. (0,6), (1,1) .. (6,6). Second-moment sums list their 28 entries in
#: this order (a symmetric matrix needs no more).
TRIANGLE: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(len(EXPRESSIONS)) for j in range(i, len(EXPRESSIONS))
)


#: The Net Promoter scale: "how likely are you to recommend us?", 0..10.
NPS_SCALE = 11
#: The scales a kiosk may have: 2..5 smiley buttons (ratings 1..scale), or NPS_SCALE.
SCALES: tuple[int, ...] = (2, 3, 4, 5, NPS_SCALE)
#: The NPS groups, worst first, and the scores of each: detractors 0..6, passives 7..8,
#: promoters 9..10 (Reichheld's Net Promoter Score).
NPS_GROUPS: tuple[str, ...] = ("detractor", "passive", "promoter")
NPS_GROUP_SCORES: tuple[range, ...] = (range(0, 7), range(7, 9), range(9, 11))


def ratings_of(scale: int) -> range:
    """The ratings a kiosk of ``scale`` sends, worst first: 1..scale, or 0..10 for NPS."""
    return range(0, NPS_SCALE) if scale == NPS_SCALE else range(1, scale + 1)


def describe_ratings(scale: int) -> str:
    """``1..4`` or ``0..10``: the ratings of ``scale`` for messages."""
    ratings = ratings_of(scale)
    return f"{ratings[0]}..{ratings[-1]}"


def level_of(rating: int, scale: int) -> int:
    """The 0-based level of ``rating`` on ``scale``: its index in every per-level list
    (``ScaleStatistics.presses`` and the like), 0 for the worst rating."""
    return rating - ratings_of(scale)[0]


def rating_of(level: int, scale: int) -> int:
    """The rating of the 0-based ``level`` on ``scale`` (the inverse of ``level_of``)."""
    return ratings_of(scale)[level]


def nps_group(score: int) -> int:
    """The index in NPS_GROUPS of an NPS ``score`` 0..10."""
    return next(group for group, scores in enumerate(NPS_GROUP_SCORES) if score in scores)


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+00:01 has no UTC representation
        raise ValueError("timestamp out of range") from None


#: A timezone-aware instant, normalised to UTC; naive times are rejected.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

#: Identifier of a store, kiosk or camera: short, URL- and header-safe.
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


#: Identifier of a follow-up answer ("queue"): lower-case, a label key for the kiosk page.
ReasonId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

#: The choices of the follow-up question ("What went wrong?") unless a kiosk sets its own.
DEFAULT_FOLLOWUP_REASONS: tuple[str, ...] = (
    "queue",
    "staff",
    "product",
    "cleanliness",
    "price",
    "other",
)


def _no_strings_or_booleans(value: Any) -> Any:
    if isinstance(value, str | bool):
        kind = "boolean" if isinstance(value, bool) else "string"
        raise PydanticCustomError(
            "int_type", "Input should be a JSON integer, not a {kind}", {"kind": kind}
        )
    return value


#: An integer as JSON Schema means it: 3 and 3.0 pass; "3", 3.5 and true are refused.
StrictInteger = Annotated[int, BeforeValidator(_no_strings_or_booleans)]

#: A number that must arrive as a JSON number, not a numeric string.
StrictNumber = Annotated[float, Strict()]

CameraRole = Literal["floor", "kiosk", "display"]

#: What a ``display`` camera looks at ("spring collection"): free text without control
#: characters, a label value of the display figures (issue 16).
DisplayLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]{1,64}$")
]

#: Upper bounds (seconds) of the display cameras' dwell and attention histograms; the
#: last, +Inf, bucket is every watcher.
DISPLAY_SECONDS_BOUNDS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]

ProbabilityVector = Annotated[
    list[Probability],
    Field(
        min_length=len(EXPRESSIONS),
        max_length=len(EXPRESSIONS),
        description="expression probabilities in the order of EXPRESSIONS",
    ),
]


class Contract(BaseModel):
    """Base of every JSON contract: strict, immutable, no unknown fields."""

    # Not pydantic's strict mode: FastAPI validates already-decoded JSON, where a
    # timestamp or UUID is still a string. Numbers are strict field by field instead.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def to_bytes(self) -> bytes:
        """The wire form: compact UTF-8 JSON."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        """Parse and validate the wire form (raises ``pydantic.ValidationError``)."""
        return cls.model_validate_json(data)


# --------------------------------------------------------------------------- ratings


class RatingSubmission(Contract):
    """One button press as a kiosk reports it."""

    event_id: UUID = Field(description="made by the kiosk, stable across retries")
    rating: StrictInteger = Field(
        ge=0,
        le=10,
        description="1 = most negative .. scale of the kiosk; 0..10 on an NPS kiosk (scale 11)",
    )
    pressed_at: UtcDatetime = Field(description="kiosk clock")
    question_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class RatingBatch(Contract):
    """Several presses in one request (a kiosk flushing its offline buffer)."""

    ratings: list[RatingSubmission] = Field(min_length=1, max_length=MAX_BATCH)


def _single_or_batch(items: str, batch: type[Contract]) -> Callable[[Any], str]:
    """The tag of a body that is one item or ``{items: [...]}``: a batch by its key.

    A discriminator rather than a plain union, so that an error names the one shape
    the body meant (``body.batch.ratings.2.rating``), not both."""

    def kind(value: Any) -> str:
        if (isinstance(value, dict) and items in value) or isinstance(value, batch):
            return "batch"
        return "single"

    return kind


#: Request body of the ratings endpoint: one rating or ``{"ratings": [...]}``.
RatingsBody = Annotated[
    Annotated[RatingSubmission, Tag("single")] | Annotated[RatingBatch, Tag("batch")],
    Discriminator(_single_or_batch("ratings", RatingBatch)),
]


class RatingEvent(RatingSubmission):
    """``kiosk.ratings.v1``, keyed by store id."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kiosk_id: DeviceId
    store_id: DeviceId
    scale: Annotated[StrictInteger, AfterValidator(_known_scale)] = Field(
        4, description="number of buttons on the kiosk: 2..5, or 11 (NPS, ratings 0..10)"
    )
    received_at: UtcDatetime = Field(description="server clock")

    @model_validator(mode="after")
    def _rating_within_scale(self) -> Self:
        if self.rating not in ratings_of(self.scale):
            raise ValueError(f"rating {self.rating} is outside {describe_ratings(self.scale)}")
        return self


# --------------------------------------------------------------------------- follow-ups


class FollowupSubmission(Contract):
    """The answer to the follow-up question ("What went wrong?") a kiosk asked after an
    unhappy press: its own event, linked to the press, which it never changes."""

    event_id: UUID = Field(description="of this answer: made by the kiosk, stable across retries")
    rating_event_id: UUID = Field(description="the event_id of the press it answers")
    reason: ReasonId = Field(description="one of the kiosk's follow-up reasons")
    answered_at: UtcDatetime = Field(description="kiosk clock")


class FollowupBatch(Contract):
    """Several answers in one request (a kiosk flushing its offline buffer)."""

    followups: list[FollowupSubmission] = Field(min_length=1, max_length=MAX_BATCH)


#: Request body of the follow-ups endpoint: one answer or ``{"followups": [...]}``.
FollowupsBody = Annotated[
    Annotated[FollowupSubmission, Tag("single")] | Annotated[FollowupBatch, Tag("batch")],
    Discriminator(_single_or_batch("followups", FollowupBatch)),
]


class FollowupEvent(FollowupSubmission):
    """``kiosk.followups.v1``, keyed by store id."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kiosk_id: DeviceId
    store_id: DeviceId
    received_at: UtcDatetime = Field(description="server clock")


# --------------------------------------------------------------------------- heartbeats


class HeartbeatSubmission(Contract):
    """A kiosk's periodic sign of life."""

    sent_at: UtcDatetime = Field(description="kiosk clock")
    buffered: StrictInteger = Field(ge=0, le=10_000_000, description="events waiting on the kiosk")
    firmware: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class Heartbeat(HeartbeatSubmission):
    """``kiosk.heartbeats.v1``, keyed by store id."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kiosk_id: DeviceId
    store_id: DeviceId
    received_at: UtcDatetime


# --------------------------------------------------------------------------- faces


class BBox(Contract):
    """A face box in pixels of the frame it was found in."""

    x: StrictInteger = Field(ge=0, le=100_000)
    y: StrictInteger = Field(ge=0, le=100_000)
    w: StrictInteger = Field(gt=0, le=100_000)
    h: StrictInteger = Field(gt=0, le=100_000)


class KioskZone(Contract):
    """Where a floor camera sees a kiosk: a rectangle of its frame, in pixels (issue 14).

    A face in the zone at the moment of a press is the presser, seen by the floor
    camera: the press is linked to it too, so that C is also learned in the floor
    camera's own view (docs/bias-correction.md, "Domain shift").
    """

    kiosk_id: DeviceId
    x: StrictInteger = Field(ge=0, le=100_000)
    y: StrictInteger = Field(ge=0, le=100_000)
    w: StrictInteger = Field(gt=0, le=100_000)
    h: StrictInteger = Field(gt=0, le=100_000)

    def holds(self, bbox: BBox) -> bool:
        """Whether the face's centre lies in the zone (a face half out of it still counts)."""
        centre_x, centre_y = bbox.x + bbox.w / 2, bbox.y + bbox.h / 2
        return self.x <= centre_x < self.x + self.w and self.y <= centre_y < self.y + self.h

    def kiosk_at(self, bbox: BBox | None) -> str | None:
        """``zone_kiosk_id`` of a face with this box: the kiosk's id if the zone ``holds``
        it, else None (also for a face without a box)."""
        return self.kiosk_id if bbox is not None and self.holds(bbox) else None

    @classmethod
    def parse(cls, text: str) -> KioskZone:
        """``KIOSK:X,Y,W,H`` (``k1:400,120,240,360``) → the zone; ValueError with a
        one-line reason otherwise. The text form of the CLI and of ``FrameHeaders``."""
        kiosk_id, colon, numbers = text.strip().partition(":")
        parts = [part.strip() for part in numbers.split(",")]
        if not colon or len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(
                f"kiosk zone {text!r} is not KIOSK:X,Y,W,H "
                "(the kiosk's id, then its rectangle in whole pixels of the camera's frame)"
            )
        try:
            return cls.model_validate(
                {"kiosk_id": kiosk_id.strip(), **dict(zip("xywh", map(int, parts), strict=True))}
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ValueError(f"kiosk zone {text!r}: {where}: {error['msg']}") from None

    def header(self) -> str:
        """The text form, ``KIOSK:X,Y,W,H``, that ``parse`` reads."""
        return f"{self.kiosk_id}:{self.x},{self.y},{self.w},{self.h}"


class ObservationSubmission(Contract):
    """One face in one frame, as an edge agent reports it."""

    track_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    captured_at: UtcDatetime
    probs: ProbabilityVector
    bbox: BBox | None = None
    #: Whether the face looks at the camera (|yaw| small; docs/vision.md, "Attention"):
    #: display cameras' attention time. None: not known (the aggregator then judges by
    #: the box's aspect).
    frontal: bool | None = None

    @field_validator("probs")
    @classmethod
    def _is_distribution(cls, probs: list[float]) -> list[float]:
        total = math.fsum(probs)
        if abs(total - 1.0) > PROBS_SUM_TOLERANCE:
            raise ValueError(f"probabilities sum to {total:.4f}, not 1 ± {PROBS_SUM_TOLERANCE}")
        return probs


class ObservationBatch(Contract):
    """Request body of the observations endpoint."""

    observations: list[ObservationSubmission] = Field(min_length=1, max_length=MAX_BATCH)


class FaceObservation(ObservationSubmission):
    """``camera.faces.v1``, keyed by store id."""

    schema_version: Literal[1] = SCHEMA_VERSION
    camera_id: DeviceId
    store_id: DeviceId
    role: CameraRole
    kiosk_id: DeviceId | None = None
    source: Literal["server", "edge"]
    #: A floor camera's face inside the camera's kiosk zone (``KioskZone.holds``): the
    #: kiosk's id. Stamped by the API (edge observations) or the vision stage (frames).
    zone_kiosk_id: DeviceId | None = None
    #: A display camera's label at the time of the face (the registry's, stamped by the
    #: API or the vision stage): a relabel splits the display's history there (issue 16).
    display: DisplayLabel | None = None

    @model_validator(mode="after")
    def _display_label_for_display_role(self) -> Self:
        if (self.role == "display") != (self.display is not None):
            raise ValueError("a display camera's face needs its display label, no other one")
        return self

    def to_bytes(self) -> bytes:
        # Issue 16's fields only where set: a floor or kiosk camera's face is written as
        # before, so a worker of the previous version still reads it (rolling upgrades).
        unset = {name for name in ("frontal", "display") if getattr(self, name) is None}
        return self.model_dump_json(exclude=unset).encode()


# --------------------------------------------------------------------------- aggregates


class KioskStatus(Contract):
    """What the last heartbeat of a kiosk said."""

    last_seen: UtcDatetime
    buffered: StrictInteger = Field(ge=0)


def _known_scale(scale: int) -> int:
    if scale not in SCALES:
        raise ValueError(f"a kiosk's scale is 2..5 buttons or {NPS_SCALE} (0..10), not {scale}")
    return scale


#: Number of buttons on a kiosk: 2..5, or NPS_SCALE.
Scale = Annotated[int, Field(ge=2, le=NPS_SCALE), AfterValidator(_known_scale)]

Count = Annotated[StrictInteger, Field(ge=0)]
Sum = Annotated[StrictNumber, Field(ge=0.0)]


class ProbabilitySums(Contract):
    """Probability vectors of one sample of faces (one vector per face or track), summed."""

    count: Count = Field(description="how many vectors")
    prob_sums: list[Sum] = Field(description="their sum, in the order of EXPRESSIONS")
    prob_sq_sums: list[Sum] = Field(
        description="the sum of v vᵀ over them, the 28 entries of its upper triangle in the "
        "order of TRIANGLE"
    )

    @model_validator(mode="after")
    def _check_shape(self) -> ProbabilitySums:
        if len(self.prob_sums) != len(EXPRESSIONS) or len(self.prob_sq_sums) != len(TRIANGLE):
            raise ValueError(
                f"prob_sums needs {len(EXPRESSIONS)} entries and prob_sq_sums {len(TRIANGLE)}"
            )
        return self


class ScaleStatistics(Contract):
    """The presses of one bucket on kiosks of one scale: per level, the scale's ratings worst
    first (1..scale, or 0..10 on an NPS kiosk: ``level_of``)."""

    presses: list[Count] = Field(description="counted presses per level (``level_of``)")
    suppressed: Count = Field(0, description="presses dropped by the misuse filter")
    linked_presses: list[Count] = Field(description="counted presses linked to a kiosk-camera face")
    linked_prob_sums: list[list[Sum]] = Field(
        description="per level, the sum of the linked faces' probability vectors"
    )
    linked_prob_sq_sums: list[list[Sum]] = Field(
        default_factory=list,
        description="per level, the sum of l lᵀ over the linked faces' probability vectors l, "
        "as the 28 entries of its upper triangle in the order of TRIANGLE; "
        "empty: not known (written before second moments existed)",
    )
    zone_linked: list[ProbabilitySums] = Field(
        default_factory=list,
        description="per level, the counted presses linked to a floor camera's track "
        "inside the kiosk's zone at the press (the floor camera's view of the presser: "
        'docs/bias-correction.md, "Domain shift"); empty: none in the bucket',
    )

    def check_shape(self, scale: int) -> None:
        """Raise ValueError unless every list fits ``scale`` levels of EXPRESSIONS."""
        names = ["presses", "linked_presses", "linked_prob_sums"]
        for optional in ("linked_prob_sq_sums", "zone_linked"):
            if getattr(self, optional):  # empty: absent, any scale
                names.append(optional)
        for name in names:
            got = len(getattr(self, name))
            if got != scale:
                raise ValueError(f"{name} of scale {scale} has {got} entries")
        if any(len(row) != len(EXPRESSIONS) for row in self.linked_prob_sums):
            raise ValueError(f"every row of linked_prob_sums needs {len(EXPRESSIONS)} entries")
        if any(len(row) != len(TRIANGLE) for row in self.linked_prob_sq_sums):
            raise ValueError(f"every row of linked_prob_sq_sums needs {len(TRIANGLE)} entries")


class DisplayStatistics(Contract):
    """The watchers of one display label in one bucket (issue 16): a display camera's
    tracks closed in the bucket, with the sums a comparison needs (count, Σ x, Σ x²)."""

    watchers: Count = Field(description="tracks closed (distinct people seen, per camera)")
    dwell_seconds_sum: Sum = Field(description="Σ dwell: first to last sighting of a track")
    dwell_seconds_sq_sum: Sum = Field(description="Σ dwell²")
    dwell_buckets: list[Count] = Field(
        description="watchers with dwell ≤ each bound of DISPLAY_SECONDS_BOUNDS (cumulative)"
    )
    attention_seconds_sum: Sum = Field(description="Σ attention: time looking at the camera")
    attention_seconds_sq_sum: Sum = Field(description="Σ attention²")
    attention_buckets: list[Count] = Field(
        description="watchers with attention ≤ each bound of DISPLAY_SECONDS_BOUNDS"
    )
    expression_counts: list[Count] = Field(
        default_factory=lambda: [0] * len(EXPRESSIONS),
        description="watchers whose expression was read, by dominant expression",
    )
    tone_counts: list[Count] = Field(
        default_factory=lambda: [0] * len(TONES), description="the same by tone, order of TONES"
    )

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        bounds = len(DISPLAY_SECONDS_BOUNDS)
        if len(self.dwell_buckets) != bounds or len(self.attention_buckets) != bounds:
            raise ValueError(f"dwell_buckets and attention_buckets need {bounds} entries")
        if len(self.expression_counts) != len(EXPRESSIONS) or len(self.tone_counts) != len(TONES):
            raise ValueError("expression_counts or tone_counts has the wrong length")
        return self


class StoreAggregate(Contract):
    """``store.aggregates.v1`` (compacted), keyed by ``{store_id}/{bucket_start}``: one bucket.

    Every statistic is additive (docs/stream-processing.md), so buckets merge into any window
    and any group of stores by addition. Published as the full value of the bucket
    (an upsert), never as an increment; the key holds the bucket so that compaction
    keeps the latest value of every bucket, not only of the latest one.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: DeviceId
    bucket_start: UtcDatetime
    bucket_seconds: StrictInteger = Field(gt=0)
    updated_at: UtcDatetime = Field(description="when the aggregator computed this value")
    ratings: dict[Scale, ScaleStatistics] = Field(
        default_factory=dict, description="presses by kiosk scale (most stores have one)"
    )
    visitors: Count = Field(0, description="floor-camera visitor tracks closed")
    visitor_prob_sums: list[Sum] = Field(
        default_factory=lambda: [0.0] * len(EXPRESSIONS),
        description="sum of the visitors' mean probabilities",
    )
    visitor_prob_sq_sums: list[Sum] = Field(
        default_factory=list,
        description="sum of m mᵀ over the visitors' mean probabilities m, as the 28 entries "
        "of its upper triangle in the order of TRIANGLE; "
        "empty: not known (written before second moments existed)",
    )
    displays: dict[DisplayLabel, DisplayStatistics] = Field(
        default_factory=dict,
        description="display cameras' watchers by display label (issue 16); only labels seen",
    )
    expression_counts: list[Count] = Field(
        default_factory=lambda: [0] * len(EXPRESSIONS),
        description="visitors by dominant expression",
    )
    tone_counts: list[Count] = Field(
        default_factory=lambda: [0] * len(TONES), description="visitors by tone, order of TONES"
    )
    kiosks: dict[DeviceId, KioskStatus] = Field(default_factory=dict)
    cameras_last_seen: dict[DeviceId, UtcDatetime] = Field(default_factory=dict)
    followups: dict[ReasonId, Count] = Field(
        default_factory=dict,
        description="follow-up answers by reason, one per press, in the bucket of answered_at; "
        "reasons without answers are left out",
    )
    kiosk_camera: ProbabilitySums | None = Field(
        None,
        description="every track of a kiosk-facing camera closed in the bucket whose expression "
        "was read, one mean vector each: pressers and people passing the kiosk alike (the "
        'kiosk camera\'s view of its passers-by: docs/bias-correction.md, "Domain shift"); '
        "None: none",
    )
    settled_until: UtcDatetime | None = Field(
        None,
        description="the store's buckets that end at or before this time have all their "
        "visitors counted (their visitor tracks closed); the same for every bucket of the "
        "store emitted together. None: not known (written before the field existed)",
    )

    def to_bytes(self) -> bytes:
        # ``displays`` only where a display camera saw someone: other stores' buckets are
        # written as before, and an exporter of the previous version still reads them.
        return self.model_dump_json(exclude=None if self.displays else {"displays"}).encode()

    @property
    def key(self) -> str:
        """The record key: compaction keeps one value per store and bucket."""
        return aggregate_key(self.store_id, self.bucket_start)

    @model_validator(mode="after")
    def _shapes_agree(self) -> Self:
        for scale, statistics in self.ratings.items():
            statistics.check_shape(scale)
        shapes = {
            "visitor_prob_sums": (len(self.visitor_prob_sums), len(EXPRESSIONS)),
            "expression_counts": (len(self.expression_counts), len(EXPRESSIONS)),
            "tone_counts": (len(self.tone_counts), len(TONES)),
        }
        if self.visitor_prob_sq_sums:  # empty: absent
            shapes["visitor_prob_sq_sums"] = (len(self.visitor_prob_sq_sums), len(TRIANGLE))
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"{name} has {got} entries, expected {want}")
        return self


def aggregate_key(store_id: str, bucket_start: datetime) -> str:
    """``store-1/2026-11-24T10:15:00Z``: the key of one bucket on ``store.aggregates.v1``."""
    return f"{store_id}/{bucket_start.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


# --------------------------------------------------------------------------- headers


class HeaderContract(BaseModel):
    """Metadata carried as Kafka headers: flat fields, each header a UTF-8 string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers; ``None`` fields are left out."""
        fields = self.model_dump(mode="json", exclude_none=True)
        return [(name, str(value).encode()) for name, value in fields.items()]

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes]]) -> Self:
        """Validate headers back into the model; unrelated headers are ignored."""
        known = cls.model_fields
        return cls.model_validate_strings(
            {name: value.decode() for name, value in headers if name in known}
        )


#: ``schema_version`` in headers: an int, since a header string cannot be a Literal.
HeaderSchemaVersion = Annotated[int, Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]


class FrameHeaders(HeaderContract):
    """Headers of a ``camera.frames.v1`` message (the value is the image bytes)."""

    schema_version: HeaderSchemaVersion = SCHEMA_VERSION
    camera_id: DeviceId
    store_id: DeviceId
    role: CameraRole
    kiosk_id: DeviceId | None = None
    captured_at: UtcDatetime
    content_type: Literal["image/jpeg", "image/png"]
    #: The smallest face to look for, in pixels of the frame: the camera's own setting
    #: (devices file); absent: the vision stage's default for the camera's role.
    min_face_px: int | None = Field(None, ge=12, le=1000)
    #: A floor camera's kiosk zone (devices file), as ``KIOSK:X,Y,W,H``: the vision stage
    #: stamps ``zone_kiosk_id`` on the faces it ``holds``. Absent: the camera has none.
    kiosk_zone: (
        Annotated[
            KioskZone,
            BeforeValidator(
                lambda value: KioskZone.parse(value) if isinstance(value, str) else value
            ),
            PlainSerializer(KioskZone.header, return_type=str),
        ]
        | None
    ) = None
    #: A display camera's label (devices file): stamped on its faces (issue 16).
    display: DisplayLabel | None = None


class DeadLetterHeaders(HeaderContract):
    """Headers of a ``pipeline.deadletter.v1`` message (the value is the raw bytes)."""

    schema_version: HeaderSchemaVersion = SCHEMA_VERSION
    source_topic: str
    source_partition: int
    source_offset: int
    error_class: str
    error_message: Annotated[str, StringConstraints(max_length=1000)]
    #: The counted reason (the ``reason`` label of kioskpulse_pipeline_dead_letters_total).
    reason: str | None = None
    #: Size of the source record's value; the dead letter keeps at most its first
    #: MAX_DEAD_LETTER_VALUE_BYTES (kioskpulse.deadletter).
    original_size: int | None = Field(None, ge=0)
    #: The event's place (0-based) in a record holding several events
    #: (kioskpulse.event_records); the value is then that event alone. None: the whole record.
    source_index: int | None = Field(None, ge=0)
