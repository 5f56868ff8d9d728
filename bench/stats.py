"""Percentiles, from raw samples or from a histogram of 0.1 ms bins merged across processes."""

import math
from collections import Counter
from collections.abc import Sequence

BIN_PER_MS = 10


def percentiles_ms(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """Nearest-rank p50/p95/p99, max and mean of samples in milliseconds."""
    if not samples_ms:
        return {"n": 0}
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50_ms": round(rank(50), 1),
        "p95_ms": round(rank(95), 1),
        "p99_ms": round(rank(99), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(sum(ordered) / len(ordered), 1),
    }


def histogram_bin(latency_seconds: float) -> int:
    return max(0, round(latency_seconds * 1000 * BIN_PER_MS))


def histogram_percentiles_ms(histogram: Counter) -> dict[str, float | int]:
    """The same figures from a histogram of `histogram_bin` values (0.1 ms resolution)."""
    total = sum(histogram.values())
    if not total:
        return {"n": 0}
    bins = sorted(histogram.items())
    wanted = {p: max(1, math.ceil(p / 100 * total)) for p in (50, 95, 99)}
    found: dict[int, float] = {}
    seen = 0
    for value, count in bins:
        seen += count
        for p, needed in wanted.items():
            if p not in found and seen >= needed:
                found[p] = value / BIN_PER_MS
    mean = sum(value * count for value, count in bins) / total / BIN_PER_MS
    return {
        "n": total,
        "p50_ms": round(found[50], 1),
        "p95_ms": round(found[95], 1),
        "p99_ms": round(found[99], 1),
        "max_ms": round(bins[-1][0] / BIN_PER_MS, 1),
        "mean_ms": round(mean, 1),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)
