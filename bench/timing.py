"""Medians over repetitions, with variants interleaved: on a noisy, shared machine a
burst of noise then slows every variant of a comparison alike instead of whichever
happened to be running, so the ratios stay honest even when the times do not."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per call: the median and the interquartile range over ``reps`` calls."""

    median_s: float
    p25_s: float
    p75_s: float
    reps: int

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        if len(samples) == 1:
            return cls(samples[0], samples[0], samples[0], 1)
        q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
        return cls(q2, q1, q3, len(samples))


def interleave(calls: Mapping[str, Callable[[], object]], reps: int, *, block: int = 1,
               warmup: int = 1) -> dict[str, Timing]:
    """Time each call ``reps`` times, taking the variants in turn, ``block`` calls at a
    time (A A B B C C A A ...; a block longer than 1 lets a fast call run with warm
    caches, as it would in a loop), after ``warmup`` untimed calls of each."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    while any(len(s) < reps for s in samples.values()):
        for name, fn in calls.items():
            for _ in range(min(block, reps - len(samples[name]))):
                started = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - started)
    return {name: Timing.of(s) for name, s in samples.items()}
