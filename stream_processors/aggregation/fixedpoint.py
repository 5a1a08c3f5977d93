"""Probability vectors as fixed-point integers.

Sums of integers are exact, so bucket statistics come out bit-identical whatever
order events arrive in and however often a contribution is added and taken back
(a press whose link or misuse status changes). One unit is 2⁻²⁴ ≈ 6e-8, far below
what any statistic here can resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["ONE", "Vector", "add", "from_fixed", "mean", "subtract", "to_fixed", "zeros"]

ONE = 1 << 24

Vector = tuple[int, ...]


def to_fixed(probs: Iterable[float]) -> Vector:
    return tuple(round(p * ONE) for p in probs)


def from_fixed(vector: Iterable[int]) -> list[float]:
    return [v / ONE for v in vector]


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
