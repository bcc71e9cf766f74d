"""Order statistics of samples, in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in (0, 1]): a value that was actually observed.

    Nearest rank rather than interpolation so that p99 of 2,000 samples is the 20th-largest sample, not
    a blend that no request ever had.
    """
    if not values:
        raise ValueError("no samples")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class Summary:
    """Count, median, p90, p99 and max of a set of durations, in milliseconds."""

    count: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of_ns(cls, samples_ns: Sequence[int]) -> Summary:
        """Summarise durations given in nanoseconds."""
        ms = [s / 1e6 for s in samples_ns]
        return cls(
            count=len(ms),
            median_ms=round(median(ms), 3),
            p90_ms=round(percentile(ms, 0.90), 3),
            p99_ms=round(percentile(ms, 0.99), 3),
            max_ms=round(max(ms), 3),
        )

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)
