"""Probability vectors as fixed-point integers.

Sums of integers are exact, so bucket statistics come out bit-identical whatever
order events arrive in and however often a contribution is added and taken back
(a press whose link or misuse status changes). One unit is 2⁻²⁴ ≈ 6e-8, far below
what any statistic here can resolve.

Second moments (upper triangles of v vᵀ) are products of two fixed-point values, so
their unit is ONE² (2⁻⁴⁸): still exact integers (Python's are unbounded), converted
only on output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kioskpulse.events import TRIANGLE

__all__ = [
    "ONE",
    "Vector",
    "add",
    "from_fixed",
    "from_fixed_squared",
    "mean",
    "outer_triangle",
    "subtract",
    "to_fixed",
    "zeros",
]

ONE = 1 << 24

Vector = tuple[int, ...]


def to_fixed(probs: Iterable[float]) -> Vector:
    return tuple(round(p * ONE) for p in probs)


def from_fixed(vector: Iterable[int]) -> list[float]:
    return [v / ONE for v in vector]


def from_fixed_squared(triangle: Iterable[int]) -> list[float]:
    """Second moments (unit ONE²) as floats."""
    return [v / (ONE * ONE) for v in triangle]


def outer_triangle(vector: Sequence[int]) -> Vector:
    """The upper triangle of v vᵀ in the order of ``TRIANGLE``, exactly (unit ONE²)."""
    return tuple(vector[i] * vector[j] for i, j in TRIANGLE)


def zeros(n: int) -> list[int]:
    return [0] * n


def add(total: list[int], vector: Sequence[int]) -> None:
    for i, v in enumerate(vector):
        total[i] += v


def subtract(total: list[int], vector: Sequence[int]) -> None:
    for i, v in enumerate(vector):
        total[i] -= v


def mean(total: Sequence[int], n: int) -> Vector:
    """The mean of ``n`` vectors summing to ``total`` (integer division: deterministic)."""
    return tuple(v // n for v in total)
