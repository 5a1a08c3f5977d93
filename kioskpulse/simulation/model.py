"""The ground truth the simulator plays: who visits a store, how they feel, who presses.

Pure and seeded: no clock, no I/O, no network. Times are seconds since the start of
the simulation; the driver turns them into wall-clock times and HTTP requests.

Per store (the model of docs/bias-correction.md):

- a true distribution θ over the levels 1..k of the store's kiosks, hence a true
  Happy Index HI = 100 · Σ θ_s (s-1)/(k-1);
- visitors arrive as a Poisson process; each has a true level S ~ θ and an
  expression vector drawn around a level-typical profile (noisy, so the expression
  model is an imperfect predictor of S);
- a visitor presses with a propensity that depends on S only (the bias to correct),
  rating S, on the kiosk free soonest, at least the misuse interval after that
  kiosk's previous press so that no press is suppressed;
- every floor camera sees every visitor over a few frames; a camera facing a kiosk
  sees whoever presses on it, around the press;
- after a press at or below the kiosk's follow-up level, the visitor answers "what
  went wrong?" with one of the kiosk's reasons some of the time, a few seconds later.

By default floor and kiosk cameras read the same face with the same per-frame noise:
the label shift assumption (how a feeling shows does not depend on pressing) holds by
design. ``ModelParameters.floor_shift`` breaks it on purpose (issue 14): the floor
camera then reads every face through a deterministic "view" (``floor_view``) that
blurs, confuses and flattens it, as a small face seen from above is read, while the
kiosk camera keeps the frontal view.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kioskpulse.events import EXPRESSIONS, NPS_GROUPS, NPS_SCALE, nps_group, rating_of
from kioskpulse.simulation.fleet import SimulatedKiosk, SimulatedStore

__all__ = [
    "DEFAULT_SCALE",
    "ModelParameters",
    "PlannedFollowup",
    "PlannedObservation",
    "PlannedPress",
    "StoreModel",
    "Visitor",
    "floor_view",
    "happy_index",
    "level_profiles",
    "map_level",
    "nps_of",
    "press_propensities",
    "theta_for_scale",
]

#: The scale of a store without kiosks (its visitors still have a true level).
DEFAULT_SCALE = 4

# Expression profiles at five points of the satisfaction range (0 = the most negative
# button, 1 = the most positive), in the order of EXPRESSIONS:
#                     angry disgust fear  happy sad   surprise neutral
_ANCHORS = np.array(
    [
        [0.38, 0.18, 0.05, 0.02, 0.18, 0.04, 0.15],  # furious, disgusted
        [0.08, 0.04, 0.12, 0.04, 0.42, 0.04, 0.26],  # let down: sad, a little afraid
        [0.04, 0.03, 0.04, 0.10, 0.07, 0.05, 0.67],  # indifferent
        [0.02, 0.02, 0.03, 0.40, 0.03, 0.22, 0.28],  # pleased, pleasantly surprised
        [0.01, 0.01, 0.02, 0.78, 0.02, 0.08, 0.08],  # delighted
    ]
)
# Five distinct anchors keep the level profiles of every scale (2..5) linearly
# independent, i.e. the confusion matrix C[e, s] well-conditioned (condition number
# under 10), as the bias correction needs. Interpolating between only three anchors would make the
# 4-level matrix singular.
_ANCHOR_POSITIONS = np.linspace(0.0, 1.0, len(_ANCHORS))

_ANGRY, _SAD, _NEUTRAL = (EXPRESSIONS.index(name) for name in ("angry", "sad", "neutral"))
# How a floor camera confuses the low-arousal, mouth-and-brow expressions of a small,
# tilted face: row = the expression shown, column = the one read (row-stochastic).
# Sad and angry faces lose their brows and corners of the mouth and read partly as
# neutral; a neutral face from above reads partly as sad or angry (the downward gaze).
# Every other expression is read as itself here (the blur and flattening of floor_view
# still reach them).
_FLOOR_CONFUSION = np.eye(len(EXPRESSIONS))
for _shown, _read in (
    (_ANGRY, {_ANGRY: 0.50, _SAD: 0.25, _NEUTRAL: 0.25}),
    (_SAD, {_ANGRY: 0.20, _SAD: 0.50, _NEUTRAL: 0.30}),
    (_NEUTRAL, {_ANGRY: 0.15, _SAD: 0.25, _NEUTRAL: 0.60}),
):
    _FLOOR_CONFUSION[_shown] = 0.0
    for _column, _share in _read.items():
        _FLOOR_CONFUSION[_shown, _column] = _share
_NEUTRAL_FACE = np.eye(len(EXPRESSIONS))[_NEUTRAL]

# Event ids are derived, not drawn, so that the seed alone does not fix them: the run
# id makes a second run with the same seed post new events, not duplicates.
_EVENT_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "https://kioskpulse.invalid/simulator/events")

# Floor cameras look from the ceiling (small faces, down to the 24 px the vision stage
# finds on floor cameras: KIOSKPULSE_VISION_FLOOR_MIN_FACE_PX); a kiosk camera from the
# kiosk. Faces under KIOSKPULSE_MIN_EXPRESSION_FACE_PX count as visitors, not expressions.
_FRAME_SIZE = (1920, 1080)
_FLOOR_FACE_PIXELS = (24, 80)
_KIOSK_FACE_PIXELS = (160, 260)


@dataclass(frozen=True)
class ModelParameters:
    """How visitors behave. The defaults make a demo with moving numbers and a real bias."""

    #: rho_1 / rho_k, the "negative-feedback bias factor": 3 means the unhappiest press 3×
    #: as often as the happiest; below 1, the happy press more (studies disagree).
    propensity_ratio: float = 3.0
    #: The press probability of the more eager end of the scale.
    max_press_probability: float = 0.3
    #: Dirichlet concentration of a visitor's expression around its level's profile:
    #: lower is noisier, and a worse predictor of the level.
    visitor_concentration: float = 5.0
    #: Dirichlet concentration of one frame's reading around the visitor's expression.
    frame_concentration: float = 60.0
    #: How differently the floor camera reads a face than the kiosk camera, in [0, 1]
    #: (issue 14): 0 reads both the same (the label-shift assumption holds), 1 is the
    #: strongest view shift of ``floor_view``. The kiosk camera is never shifted.
    floor_shift: float = 0.0
    #: Of the visitors who do not press, the share who pass in front of a kiosk camera
    #: (1 for a kiosk at the exit, which everyone passes; issue 14's same-camera target).
    kiosk_passers: float = 0.0
    #: Dirichlet concentration of a store's θ (every store gets a different θ).
    theta_concentration: float = 2.0
    #: Tilts every store's θ towards the happier levels: level s of k weighs
    #: exp(happiness · (s-1)/(k-1)) in the Dirichlet's mean. 0 favours no level.
    happiness: float = 0.0
    floor_frames: tuple[int, int] = (3, 8)
    kiosk_frames: tuple[int, int] = (2, 4)
    frame_interval: float = 0.5
    #: Seconds from arriving to wanting to press.
    press_delay: tuple[float, float] = (2.0, 10.0)
    #: The aggregator counts presses on one kiosk closer than this once.
    misuse_interval: float = 5.0
    #: Longest a visitor waits for a kiosk to be free before leaving without pressing.
    patience: float = 10.0
    #: Of the visitors asked the follow-up question, the share who answer it.
    followup_answer_probability: float = 0.6
    #: Seconds from the press to the answer.
    followup_delay: tuple[float, float] = (1.0, 5.0)

    def __post_init__(self) -> None:
        concentrations = (
            self.visitor_concentration,
            self.frame_concentration,
            self.theta_concentration,
        )
        frames_ok = all(1 <= low <= high for low, high in (self.floor_frames, self.kiosk_frames))
        durations = (self.frame_interval, self.misuse_interval, self.patience)
        checks = {
            "propensity_ratio must be positive": self.propensity_ratio > 0,
            "max_press_probability must be in (0, 1]": 0 < self.max_press_probability <= 1,
            "concentrations must be positive": min(concentrations) > 0,
            "frame counts must be 1 <= low <= high": frames_ok,
            "press_delay must be 0 <= low <= high": 0 <= self.press_delay[0] <= self.press_delay[1],
            "followup_answer_probability must be in [0, 1]": (
                0 <= self.followup_answer_probability <= 1
            ),
            "followup_delay must be 0 <= low <= high": (
                0 <= self.followup_delay[0] <= self.followup_delay[1]
            ),
            "intervals must not be negative": min(durations) >= 0,
            f"floor_shift must be in [0, 1], not {self.floor_shift}": 0 <= self.floor_shift <= 1,
            f"kiosk_passers must be in [0, 1], not {self.kiosk_passers}": (
                0 <= self.kiosk_passers <= 1
            ),
        }
        if failed := [message for message, ok in checks.items() if not ok]:
            raise ValueError("; ".join(failed))


@dataclass(frozen=True)
class PlannedPress:
    at: float
    kiosk_id: str
    event_id: str
    rating: int  # on the kiosk's scale (0..10 on an NPS kiosk)
    level: int  # the visitor's true level 1..scale, on the store's scale


@dataclass(frozen=True)
class PlannedFollowup:
    """The answer to the follow-up question the kiosk asked after ``press``."""

    at: float
    kiosk_id: str
    event_id: str
    press: PlannedPress
    reason: str


@dataclass(frozen=True)
class PlannedObservation:
    at: float
    camera_id: str
    track_id: str
    probs: tuple[float, ...]
    bbox: tuple[int, int, int, int]  # x, y, w, h in pixels


@dataclass(frozen=True)
class Visitor:
    number: int
    store_id: str
    arrived_at: float
    level: int
    expression: tuple[float, ...]
    press: PlannedPress | None
    #: Wanted to press, but every kiosk stayed busy longer than the visitor's patience.
    gave_up_pressing: bool
    observations: tuple[PlannedObservation, ...] = field(default=())
    followup: PlannedFollowup | None = None


# --------------------------------------------------------------------------- the maths


def level_profiles(scale: int) -> np.ndarray:
    """The typical expression of each level 1..scale: a (scale, 7) array of distributions."""
    positions = np.linspace(0.0, 1.0, scale)
    profiles = np.stack(
        [np.interp(positions, _ANCHOR_POSITIONS, _ANCHORS[:, e]) for e in range(len(EXPRESSIONS))],
        axis=1,
    )
    normalised: np.ndarray = profiles / profiles.sum(axis=1, keepdims=True)
    return normalised


def floor_view(
    expression: Sequence[float], shift: float, store_mean: Sequence[float]
) -> tuple[float, ...]:
    """How a floor camera reads a face whose kiosk-camera reading is ``expression``.

    With s = ``shift`` in [0, 1], e the expression, M the fixed row-stochastic
    confusion among angry, sad and neutral (``_FLOOR_CONFUSION``; e·M is the reading
    of e through it), n the pure neutral face and m the store's mean expression::

        blurred = (1 - s)·e + s·(0.5·e·M + 0.25·n + 0.25·m)
        e'      = normalise(blurred ** (1 / (1 + s)))

    (a) the 0.25·n and 0.25·m terms blur a small face towards neutral and towards the
    crowd's average look; (b) e·M confuses sad, neutral and angry with each other;
    (c) the exponent, a temperature of 1 + s, flattens what is left (the classifier
    is less sure of small faces). s = 0 returns ``expression`` itself, untouched.
    Deterministic: it draws nothing, so s = 0 leaves every draw of a seed as it was.
    (At s > 0 the per-frame Dirichlet draws around e' take the generator through a
    different number of rejection steps, so later visitors differ from those at s = 0.)
    """
    if shift == 0:
        return tuple(expression)
    e = np.asarray(expression, dtype=float)
    read = 0.5 * (e @ _FLOOR_CONFUSION) + 0.25 * _NEUTRAL_FACE + 0.25 * np.asarray(store_mean)
    blurred = (1.0 - shift) * e + shift * read
    flattened = blurred ** (1.0 / (1.0 + shift))
    return tuple(float(p) for p in flattened / flattened.sum())


def press_propensities(scale: int, ratio: float, max_probability: float) -> tuple[float, ...]:
    """P(press | level) for levels 1..scale: linear, with rho_1/rho_k = ``ratio``.

    The more eager end presses with ``max_probability``, so any ratio gives valid
    probabilities. On the NPS scale the propensity depends on the visitor's NPS group
    only (detractor, passive, promoter: linear over the three), as the corrected NPS
    assumes (``stream_processors.estimator.nps``).
    """
    if ratio >= 1:
        lowest, highest = max_probability, max_probability / ratio
    else:
        lowest, highest = max_probability * ratio, max_probability
    if scale == NPS_SCALE:
        by_group = np.linspace(lowest, highest, len(NPS_GROUPS))
        return tuple(float(by_group[nps_group(rating_of(level, scale))]) for level in range(scale))
    return tuple(float(p) for p in np.linspace(lowest, highest, scale))


def nps_of(theta: Sequence[float]) -> float:
    """NPS = 100 · (θ of scores 9..10 - θ of scores 0..6) of a distribution over 0..10."""
    groups = [0.0] * len(NPS_GROUPS)
    for level, p in enumerate(theta):
        groups[nps_group(rating_of(level, NPS_SCALE))] += p
    return 100.0 * (groups[-1] - groups[0])


def happy_index(theta: Sequence[float]) -> float:
    """HI = 100 · Σ θ_s (s-1)/(k-1), the industry's index of a distribution over 1..k."""
    k = len(theta)
    return 100.0 * sum(p * s / (k - 1) for s, p in enumerate(theta))


#: Where each button of a smiley kiosk starts on the NPS scale (scores): a visitor of an
#: NPS store presses a smiley button within their NPS group, so that the propensity is
#: the same for every level of a button and the Happy Index's correction holds there too
#: (not on 2 buttons, whose happy one takes passives and promoters).
_SMILEY_STARTS_ON_NPS: dict[int, tuple[int, ...]] = {
    2: (0, 7),
    3: (0, 7, 9),
    4: (0, 4, 7, 9),
    5: (0, 3, 5, 7, 9),
}


def map_level(level: int, from_scale: int, to_scale: int) -> int:
    """The button (1-based level) of a ``to_scale`` kiosk nearest to ``level`` of
    ``from_scale``; from the NPS scale, within the level's NPS group."""
    if to_scale == from_scale:
        return level
    if from_scale == NPS_SCALE:
        score = rating_of(level - 1, NPS_SCALE)
        return sum(start <= score for start in _SMILEY_STARTS_ON_NPS[to_scale])
    position = (level - 1) * (to_scale - 1) / (from_scale - 1)
    return 1 + math.floor(position + 0.5)  # halves round up, unlike round()


def theta_for_scale(theta: Sequence[float], scale: int) -> tuple[float, ...]:
    """θ seen through a kiosk of another scale (``map_level`` of every level)."""
    mapped = [0.0] * scale
    for level, p in enumerate(theta, start=1):
        mapped[map_level(level, len(theta), scale) - 1] += p
    return tuple(mapped)


# --------------------------------------------------------------------------- a store


class StoreModel:
    """The visitors of one store, drawn from a seeded generator.

    Stateful only in the generator and in when each kiosk is next free, so the same
    seed, run id and arrival times give the same visitors.
    """

    def __init__(
        self,
        store: SimulatedStore,
        *,
        seed: int,
        run_id: str,
        parameters: ModelParameters | None = None,
        theta: Sequence[float] | None = None,
    ) -> None:
        self.store = store
        self.parameters = parameters or ModelParameters()
        self.run_id = run_id
        self.scale = max((kiosk.scale for kiosk in store.kiosks), default=DEFAULT_SCALE)
        # The store id is part of the seed, so a store keeps its θ whichever stores
        # are simulated beside it.
        entropy = [seed, *store.store_id.encode()]
        self._rng = np.random.default_rng(entropy)
        # Follow-up answers draw from a stream of their own (a child of the same seed),
        # so that they change nothing of the visitors, presses and faces a seed gives.
        self._followup_rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(1,)))
        self._kiosks = {kiosk.kiosk_id: kiosk for kiosk in store.kiosks}
        self.theta = self._theta(theta)
        self.propensities = press_propensities(
            self.scale, self.parameters.propensity_ratio, self.parameters.max_press_probability
        )
        self._profiles = level_profiles(self.scale)
        # The mean expression of the store's visitors, E[expression] under θ (with the
        # smoothing of _expression): where a floor camera's blur pulls every face.
        # Computed, not drawn, so the floor shift takes nothing from the generator.
        self.mean_expression = tuple(
            float(p)
            for p in 0.99 * (np.asarray(self.theta) @ self._profiles) + 0.01 / len(EXPRESSIONS)
        )
        self._kiosk_free_at = {kiosk.kiosk_id: -math.inf for kiosk in store.kiosks}
        self._visitors = 0

    @property
    def happy_index(self) -> float:
        return happy_index(self.theta)

    def next_arrival(self, after: float, rate: float) -> float:
        """When the next visitor arrives, ``rate`` visitors per second on average."""
        return after + float(self._rng.exponential(1.0 / rate))

    def visitor(self, arrived_at: float, *, level: int | None = None) -> Visitor:
        """A new visitor arriving at ``arrived_at``, with everything they will do.

        ``level``: the visitor's true level, instead of one drawn from θ (an incident)."""
        self._visitors += 1
        number = self._visitors
        if level is None:
            level = 1 + int(self._rng.choice(self.scale, p=self.theta))
        expression = self._expression(level)
        press, gave_up = self._press(number, level, arrived_at)
        observations = [
            *self._floor_observations(number, expression, arrived_at, press),
            *self._kiosk_observations(number, expression, press),
            *self._passing_observations(number, expression, arrived_at, press),
        ]
        return Visitor(
            number=number,
            store_id=self.store.store_id,
            arrived_at=arrived_at,
            level=level,
            expression=expression,
            press=press,
            gave_up_pressing=gave_up,
            observations=tuple(observations),
            followup=self._followup(number, press),
        )

    # ----------------------------------------------------------------- drawing

    def _theta(self, given: Sequence[float] | None) -> tuple[float, ...]:
        if given is not None:
            if len(given) != self.scale or abs(math.fsum(given) - 1) > 1e-9 or min(given) < 0:
                raise ValueError(f"theta must be a distribution over {self.scale} levels")
            return tuple(float(p) for p in given)
        tilt = np.exp(self.parameters.happiness * np.linspace(0.0, 1.0, self.scale))
        alpha = self.parameters.theta_concentration * self.scale * tilt / tilt.sum()
        drawn = self._rng.dirichlet(alpha)
        # A floor under every level, so that every level has presses to learn C from.
        floored = 0.9 * drawn + 0.1 / self.scale
        return tuple(float(p) for p in floored)

    def _expression(self, level: int) -> tuple[float, ...]:
        profile = self._profiles[level - 1]
        drawn = self._rng.dirichlet(self.parameters.visitor_concentration * profile)
        # Keeps every component away from 0, so per-frame Dirichlet noise is well defined.
        smoothed = 0.99 * drawn + 0.01 / len(EXPRESSIONS)
        return tuple(float(p) for p in smoothed)

    def _frame_probs(self, expression: tuple[float, ...]) -> tuple[float, ...]:
        drawn = self._rng.dirichlet(self.parameters.frame_concentration * np.array(expression))
        rounded = np.round(drawn / drawn.sum(), 6)
        return tuple(float(p) for p in rounded)

    def _press(
        self, number: int, level: int, arrived_at: float
    ) -> tuple[PlannedPress | None, bool]:
        """The visitor's press if they press, and whether they gave up waiting for a kiosk."""
        if not self.store.kiosks or self._rng.random() >= self.propensities[level - 1]:
            return None, False
        low, high = self.parameters.press_delay
        wants_at = arrived_at + float(self._rng.uniform(low, high))
        kiosk = self._soonest_free_kiosk()
        at = max(wants_at, self._kiosk_free_at[kiosk.kiosk_id])
        if at - wants_at > self.parameters.patience:
            return None, True
        # A little over the misuse interval, so that rounding on the wire never makes
        # two presses look closer than it.
        self._kiosk_free_at[kiosk.kiosk_id] = at + self.parameters.misuse_interval + 0.05
        event_id = uuid.uuid5(_EVENT_IDS, f"{self.run_id}:{self._key(number)}")
        rating = rating_of(map_level(level, self.scale, kiosk.scale) - 1, kiosk.scale)
        return PlannedPress(at, kiosk.kiosk_id, str(event_id), rating, level), False

    def _followup(self, number: int, press: PlannedPress | None) -> PlannedFollowup | None:
        """The visitor's answer to "what went wrong?", if the kiosk asks and they answer."""
        if press is None:
            return None
        kiosk = self._kiosks[press.kiosk_id]
        if press.rating > kiosk.followup_max_rating or not kiosk.followup_reasons:
            return None
        rng = self._followup_rng
        if rng.random() >= self.parameters.followup_answer_probability:
            return None
        reason = kiosk.followup_reasons[int(rng.integers(len(kiosk.followup_reasons)))]
        at = press.at + float(rng.uniform(*self.parameters.followup_delay))
        event_id = uuid.uuid5(_EVENT_IDS, f"{self.run_id}:{self._key(number)}/followup")
        return PlannedFollowup(at, kiosk.kiosk_id, str(event_id), press, reason)

    def _soonest_free_kiosk(self) -> SimulatedKiosk:
        kiosks = list(self.store.kiosks)
        order = [int(i) for i in self._rng.permutation(len(kiosks))]  # ties: a random kiosk
        shuffled = [kiosks[i] for i in order]
        return min(shuffled, key=lambda kiosk: self._kiosk_free_at[kiosk.kiosk_id])

    def _floor_observations(
        self,
        number: int,
        expression: tuple[float, ...],
        arrived_at: float,
        press: PlannedPress | None,
    ) -> list[PlannedObservation]:
        observations = []
        low, high = self.parameters.floor_frames
        # The floor camera's view of the face (issue 14); the same tuple when unshifted.
        seen = floor_view(expression, self.parameters.floor_shift, self.mean_expression)
        for camera in self.store.floor_cameras:
            frames = int(self._rng.integers(low, high + 1))
            start = arrived_at + float(self._rng.uniform(0.0, 1.0))
            times = start + self.parameters.frame_interval * np.arange(frames)
            track = self._track(camera.camera_id, number, seen, times, floor=True)
            if press is not None and camera.zone is not None and camera.zone[0] == press.kiosk_id:
                track += self._zone_sightings(track, camera.zone[1], seen, press)
            observations += track
        return observations

    def _zone_sightings(
        self,
        track: list[PlannedObservation],
        zone: tuple[int, int, int, int],
        seen: tuple[float, ...],
        press: PlannedPress,
    ) -> list[PlannedObservation]:
        """The floor camera follows a presser to the kiosk and sees them in its zone.

        A sighting every few seconds on the way (so the track never goes idle), then
        the frames around the press, inside ``zone``: the floor camera's view of the
        presser, linked to the press in the floor camera's own domain (issue 14).
        """
        walking = np.arange(track[-1].at + 3.0, press.at - 2.0, 3.0)
        at_kiosk = np.linspace(press.at - 2.0, press.at + 0.5, 3)
        x, y, w, h = zone
        sightings = []
        low, high = _FLOOR_FACE_PIXELS
        for at in (*walking, *at_kiosk):
            if at >= press.at - 2.0:  # at the kiosk: the face in the zone
                size = int(self._rng.integers(low, min(high, w, h) + 1))
                box = (
                    x + int(self._rng.integers(0, max(1, w - size))),
                    y + int(self._rng.integers(0, max(1, h - size))),
                    size,
                    size,
                )
            else:
                box = self._bbox(_FLOOR_FACE_PIXELS, centred=False)
            sightings.append(
                PlannedObservation(
                    float(at), track[-1].camera_id, track[-1].track_id, self._frame_probs(seen), box
                )
            )
        return sightings

    def _passing_observations(
        self,
        number: int,
        expression: tuple[float, ...],
        arrived_at: float,
        press: PlannedPress | None,
    ) -> list[PlannedObservation]:
        """A visitor who does not press may pass a kiosk: its camera sees them frontally."""
        share = self.parameters.kiosk_passers
        if press is not None or not share or not self.store.kiosks:
            return []
        if self._rng.random() >= share:
            return []
        kiosks = self.store.kiosks
        kiosk = kiosks[int(self._rng.integers(len(kiosks)))]
        low, high = self.parameters.kiosk_frames
        frames = int(self._rng.integers(low, high + 1))
        passes_at = arrived_at + float(self._rng.uniform(*self.parameters.press_delay))
        observations = []
        for camera in self.store.cameras_facing(kiosk.kiosk_id):
            times = passes_at + self.parameters.frame_interval * np.arange(frames)
            observations += self._track(camera.camera_id, number, expression, times, floor=False)
        return observations

    def _kiosk_observations(
        self, number: int, expression: tuple[float, ...], press: PlannedPress | None
    ) -> list[PlannedObservation]:
        if press is None:
            return []
        observations = []
        low, high = self.parameters.kiosk_frames
        for camera in self.store.cameras_facing(press.kiosk_id):
            frames = int(self._rng.integers(low, high + 1))
            times = np.linspace(press.at - 2.0, press.at + 0.5, frames)
            observations += self._track(camera.camera_id, number, expression, times, floor=False)
        return observations

    def _track(
        self,
        camera_id: str,
        number: int,
        expression: tuple[float, ...],
        times: np.ndarray,
        *,
        floor: bool,
    ) -> list[PlannedObservation]:
        """One visitor's face over several frames of one camera: one track id."""
        track_id = f"sim-{self.run_id}-{_digest(f'{self._key(number)}/{camera_id}')}"
        bbox = self._bbox(_FLOOR_FACE_PIXELS if floor else _KIOSK_FACE_PIXELS, centred=not floor)
        return [
            PlannedObservation(float(at), camera_id, track_id, self._frame_probs(expression), bbox)
            for at in times
        ]

    def _bbox(self, pixels: tuple[int, int], *, centred: bool) -> tuple[int, int, int, int]:
        size = int(self._rng.integers(pixels[0], pixels[1] + 1))
        width, height = _FRAME_SIZE
        if centred:  # someone standing at the kiosk, facing its camera
            x = width // 2 - size // 2 + int(self._rng.integers(-100, 101))
            y = height // 2 - size // 2 + int(self._rng.integers(-80, 81))
        else:
            x = int(self._rng.integers(0, width - size))
            y = int(self._rng.integers(0, height - size))
        return x, y, size, size

    def _key(self, number: int) -> str:
        """A visitor's key, unique within the run: store and visitor number."""
        return f"{self.store.store_id}-{number:x}"


def _digest(text: str) -> str:
    """A short fixed-length id for any text: track ids must stay within 64 characters."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
