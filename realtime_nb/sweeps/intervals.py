"""Sets of time spans in milliseconds: the arithmetic every metric of a sweep is built from.

A span list is normalised (sorted, disjoint, non-empty spans) by :func:`union`; the other functions
take and return normalised lists, so the metrics never double-count overlapping hypotheses.
"""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[float, float]


def union(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint spans covering the same time; empty spans dropped, touching ones merged."""
    out: list[Span] = []
    for a, b in sorted((float(a), float(b)) for a, b in spans if b > a):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(x: list[Span], y: list[Span]) -> list[Span]:
    """Time in both (inputs normalised)."""
    out: list[Span] = []
    i = j = 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(x: list[Span], y: list[Span]) -> list[Span]:
    """Time in ``x`` and not in ``y`` (inputs normalised)."""
    out: list[Span] = []
    j = 0
    for a, b in x:
        while j < len(y) and y[j][1] <= a:
            j += 1
        k, start = j, a
        while k < len(y) and y[k][0] < b:
            if y[k][0] > start:
                out.append((start, y[k][0]))
            start = max(start, y[k][1])
            k += 1
        if start < b:
            out.append((start, b))
    return out


def total(spans: Iterable[Span]) -> float:
    return float(sum(b - a for a, b in spans))


def contains(spans: list[Span], t: float) -> bool:
    """Whether ``t`` lies inside one of the spans (start included, end excluded)."""
    return any(a <= t < b for a, b in spans)
