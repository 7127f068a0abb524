"""Is a measured deadline-miss rate within epsilon? One verdict for simulations and bags."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binomtest


@dataclass(frozen=True)
class MissRate:
    """``misses`` of ``trials`` against epsilon ``risk``, with the exact (Clopper-Pearson) 95 %
    interval. ``status``: "ok" (rate <= eps), "above eps" (above, but eps inside the
    interval), "VIOLATED" (the whole interval above eps), "n/a" (no eps known)."""

    misses: int
    trials: int
    risk: float
    rate: float
    ci_low: float
    ci_high: float
    status: str


def miss_rate(misses: int, trials: int, risk: float) -> MissRate:
    ci = binomtest(misses, trials).proportion_ci(0.95, method="exact")
    rate = misses / trials
    if math.isnan(risk):
        status = "n/a"
    elif ci.low > risk:
        status = "VIOLATED"
    elif rate > risk:
        status = "above eps"
    else:
        status = "ok"
    return MissRate(misses, trials, risk, rate, float(ci.low), float(ci.high), status)
